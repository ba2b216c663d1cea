"""The latent graph as a standalone SVG picture: the network page's layout and colours, for slides and papers.

Plain SVG 1.1 with no scripts or external references, so it opens in browsers, Inkscape, Illustrator and
PowerPoint. Positions come from `network_layout` (the same as the interactive view); every label is XML-escaped and
holds only characters XML allows (crl/viz/xml_text.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from crl.viz.layout import captions_below, network_layout
from crl.viz.palette import NEUTRAL_DARK, darker, modality_colours
from crl.viz.xml_text import xml_attr, xml_text

NODE_RADIUS = 14.0
MARGIN = 90.0
FONT = "Helvetica, Arial, sans-serif"
# How far the arrow marker's tip reaches past its path's end, in stroke widths: the marker is 5 stroke widths
# long (markerWidth) over a 10-unit viewBox, anchored 2 units from its base (refX), so 5 * (10 - 2) / 10.
ARROW_TIP = 4.0


def _edge_path(start: np.ndarray, end: np.ndarray, bend: float, head: float) -> str:
    """A quadratic curve from node edge to node edge, bent so i->j and j->i stay apart. Each end is placed along
    the curve's own tangent there, and the far one `head` px early, so the arrow head's tip touches the node."""
    direction = end - start
    length = float(np.hypot(*direction)) or 1.0
    normal = np.array([-direction[1], direction[0]]) / length
    control = (start + end) / 2 + normal * bend * length

    def towards(point: np.ndarray, target: np.ndarray, distance: float) -> np.ndarray:
        step = target - point
        return point + step * (distance / (float(np.hypot(*step)) or 1.0))

    a = towards(start, control, NODE_RADIUS)
    b = towards(end, control, NODE_RADIUS + head)
    return f"M{a[0]:.1f},{a[1]:.1f} Q{control[0]:.1f},{control[1]:.1f} {b[0]:.1f},{b[1]:.1f}"


def latent_network_svg(
    names: Sequence[str],
    modality_of: Sequence[str],
    weights: np.ndarray,
    threshold: float = 0.5,
    weak: Collection[int] = (),
) -> str:
    """SVG text of the graph: one node per latent coloured by modality, an arrow per edge with |weight| >=
    threshold (width by strength), modality names above their clusters and a one-line legend.

    weak: positions of latents not reliably recovered (crl.analysis.confidence): drawn faded with a dashed
    outline, and their links faint, as the network page draws them."""
    names = [str(n) for n in names]
    modalities = [str(m) for m in modality_of]
    w = np.nan_to_num(np.asarray(weights, dtype=float))
    d = len(names)
    if w.shape != (d, d):
        raise ValueError(f"weights must have shape ({d}, {d}) to match the {d} names, got {w.shape}")
    colours = modality_colours(modalities)
    xy = network_layout(modalities) if d else np.zeros((0, 2))
    low = xy.min(axis=0) - MARGIN if d else np.zeros(2)
    xy = xy - low
    width = float(xy[:, 0].max() + MARGIN) if d else 2 * MARGIN
    height = float(xy[:, 1].max() + MARGIN) + 40.0 if d else 2 * MARGIN
    scale = float(np.abs(w[~np.eye(d, dtype=bool)]).max()) if d > 1 else 0.0
    faded = {int(i) for i in weak}

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family={xml_attr(FONT)}>',
        "<title>Learned latent graph</title>",
        f'<defs><marker id="arrow" viewBox="0 0 10 10" refX="2" refY="5" markerWidth="5" markerHeight="5" '
        f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{NEUTRAL_DARK}"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
    ]
    for i in range(d):
        for j in range(d):
            value = w[i, j]
            if i == j or value == 0.0 or abs(value) < threshold:
                continue
            stroke = 1.0 + 3.0 * (abs(value) / scale if scale > 0 else 1.0)
            path = _edge_path(xy[i], xy[j], 0.12, ARROW_TIP * stroke + 1.0)
            opacity = 0.25 if {i, j} & faded else 0.8
            out.append(
                f'<path d="{path}" fill="none" stroke="{NEUTRAL_DARK}" stroke-width="{stroke:.2f}" '
                f'stroke-opacity="{opacity}" marker-end="url(#arrow)"><title>'
                f"{xml_text(names[i])} → {xml_text(names[j])}: {value:.2f}</title></path>"
            )
    below_of = captions_below(xy, modalities)  # the network page's rule
    for modality, colour in colours.items():
        members = [i for i in range(d) if modalities[i] == modality]
        cx = xy[members, 0].mean()
        below = below_of[modality]
        lines = max(len(names[i].splitlines() or [""]) for i in members)
        y = (
            xy[members, 1].max() + NODE_RADIUS + 22 + 13 * lines
            if below
            else xy[members, 1].min() - NODE_RADIUS - 22
        )
        out.append(
            f'<text x="{cx:.1f}" y="{y:.1f}" text-anchor="middle" font-size="16" '
            f'font-weight="bold" fill="{darker(colour, 0.8)}">{xml_text(modality)}</text>'
        )
    for i, name in enumerate(names):
        colour = colours[modalities[i]]
        x, y = xy[i]
        look = ' fill-opacity="0.3" stroke-dasharray="4 3"' if i in faded else ""
        ink = "#8A8A8A" if i in faded else "#222222"
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{NODE_RADIUS:.0f}" fill="{colour}" '
            f'stroke="{darker(colour, 0.7)}" stroke-width="2"{look}><title>{xml_text(name)}</title></circle>'
        )
        for k, line in enumerate(name.splitlines() or [""]):
            out.append(
                f'<text x="{x:.1f}" y="{y + NODE_RADIUS + 14 + 13 * k:.1f}" text-anchor="middle" font-size="12" '
                # A white halo under the letters (paint-order), so links passing beneath stay off the words.
                f'fill="{ink}" stroke="#FFFFFF" stroke-width="4" '
                f'stroke-linejoin="round" paint-order="stroke">'
                f"{xml_text(line)}</text>"
            )
    legend_x = 20.0
    for modality, colour in colours.items():
        out.append(f'<circle cx="{legend_x + 6:.1f}" cy="{height - 20:.1f}" r="6" fill="{colour}"/>')
        out.append(
            f'<text x="{legend_x + 16:.1f}" y="{height - 16:.1f}" font-size="13" fill="#222222">'
            f"{xml_text(modality)}</text>"
        )
        legend_x += 30.0 + 8.0 * len(modality)
    out.append(
        f'<text x="{width - 20:.1f}" y="{height - 16:.1f}" text-anchor="end" font-size="12" fill="#555555">'
        f"links with strength ≥ {threshold:g}</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"
