"""Where the latent graph's nodes sit: a deterministic layout that depends on the modality sizes, never on the
weights, so moving the threshold never moves a node (shared by the interactive view and the SVG export)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np


def network_layout(modality_of: Sequence[str]) -> np.ndarray:
    """Deterministic node positions `(d, 2)` in vis-network pixels (y points down).

    Modalities sit on a wide ellipse in first-appearance order (two modalities: left and right); each
    modality's latents sit on a small ring around its centre, the first at the top. Positions depend only on
    the modality sizes, never on the weights, so changing the threshold never moves a node.
    """
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(modality_of):
        groups.setdefault(str(m), []).append(i)
    positions = np.zeros((len(modality_of), 2))
    if not groups:
        return positions
    # Neighbours on a ring sit ~110 px apart, so their labels (drawn under the nodes) do not collide.
    ring = {
        m: 0.0 if len(idx) == 1 else max(70.0, 55.0 / math.sin(math.pi / len(idx)))
        for m, idx in groups.items()
    }
    n_mod = len(groups)
    widest = max(ring.values())
    big = 0.0 if n_mod == 1 else max(230.0, (2 * widest + 200.0) / (2 * math.sin(math.pi / n_mod)))
    for g, (m, idx) in enumerate(groups.items()):
        theta = math.pi + 2 * math.pi * g / n_mod
        # Wider than tall: the dashboard's canvas is landscape.
        cx, cy = 1.4 * big * math.cos(theta), big * math.sin(theta)
        k = len(idx)
        for j, i in enumerate(idx):
            phi = -math.pi / 2 + 2 * math.pi * j / k
            positions[i] = (cx + ring[m] * math.cos(phi), cy + ring[m] * math.sin(phi))
    return np.round(positions, 2)


def covariate_positions(latent_xy: np.ndarray, linked: Sequence[Sequence[int]]) -> np.ndarray:
    """Covariate boxes just outside the latents, each towards the latents it is linked to: `(n, 2)`.

    Depends only on which latents each covariate links to (not on any threshold), so it is stable too.
    """
    n = len(linked)
    if n == 0:
        return np.zeros((0, 2))
    centre = latent_xy.mean(axis=0) if len(latent_xy) else np.zeros(2)
    rel = latent_xy - centre
    reach = float(np.hypot(rel[:, 0] / 1.4, rel[:, 1]).max()) if len(rel) else 0.0
    radius = reach + 150.0
    angles = []
    for members in linked:
        target = rel[list(members)].mean(axis=0) if len(members) else np.zeros(2)
        # Linked latents around the middle give no direction: put the box underneath.
        angles.append(math.atan2(target[1], target[0] / 1.4) if np.hypot(*target) > 1e-6 else math.pi / 2)
    order = sorted(range(n), key=lambda k: (angles[k], k))
    gap = 150.0 / radius  # about 150 px of arc between neighbouring boxes
    placed: dict[int, float] = {}
    previous = -math.inf
    for k in order:
        placed[k] = max(angles[k], previous + gap)
        previous = placed[k]
    out = np.array([(1.4 * radius * math.cos(placed[k]), radius * math.sin(placed[k])) for k in range(n)])
    return np.round(out + centre, 2)


def captions_below(xy: np.ndarray, modalities: Sequence[str]) -> dict[str, bool]:
    """Per modality, whether its caption goes below its cluster (True) or above it: clusters in the lower half
    of a layout of three or more are captioned below, on their outer side, where no edges run."""
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(modalities):
        groups.setdefault(str(m), []).append(i)
    if not groups:
        return {}
    centres = {m: float(xy[idx, 1].mean()) for m, idx in groups.items()}
    middle = float(np.mean(list(centres.values())))
    return {m: len(groups) > 2 and centre > middle + 20.0 for m, centre in centres.items()}


def wrap_label(label: str, width: int = 18) -> str:
    """A long name over two lines, so neighbouring labels on a ring do not run into each other."""
    if len(label) <= width:
        return label
    lines = textwrap.wrap(
        label, width=max(width, (len(label) + 1) // 2), max_lines=2, placeholder="…", break_on_hyphens=False
    )
    return "\n".join(lines)


def labelled_layout(modality_of: list[str], labels: list[str]) -> np.ndarray:
    """network_layout with each modality's ring widened for long labels (cluster centres stay put)."""
    xy = network_layout(modality_of)
    widest = max((len(line) for label in labels for line in label.split("\n")), default=0)
    stretch = min(max(widest * 7.5 / 110.0, 1.0), 1.6)  # ~7.5 px per character at the default font
    if stretch == 1.0:
        return xy
    owner = np.asarray(modality_of)
    for m in dict.fromkeys(modality_of):
        members = owner == m
        centre = xy[members].mean(axis=0)
        xy[members] = centre + stretch * (xy[members] - centre)
    return xy
