"""Random latent DAGs over modality blocks, with a cross-modal density knob and optional acceptance test.

Convention used throughout the synthetic package: `adjacency[i, j] = True` means an edge from latent i to
latent j (source = row, target = column); `blocks` maps modality name -> the latent indices of that modality,
in the order of the adjacency matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from crl.errors import ConfigError, CrlError
from crl.graphs.dag import cross_modal_mask

Accept = Callable[[np.ndarray, dict[str, list[int]]], bool]


def _has_path(adjacency: np.ndarray, start: int, goal: int) -> bool:
    """True when a directed path start ~> goal exists."""
    seen, stack = {start}, [start]
    while stack:
        v = stack.pop()
        if v == goal:
            return True
        for w in np.flatnonzero(adjacency[v]):
            if int(w) not in seen:
                seen.add(int(w))
                stack.append(int(w))
    return False


def _sample_once(
    blocks: Mapping[str, Sequence[int]], rng: np.random.Generator, cross_density: float, within_density: float
) -> np.ndarray:
    d = sum(len(v) for v in blocks.values())
    cross = cross_modal_mask(blocks)
    # One uniform per pair, shared by every density, so the edge set grows monotonically with the knob.
    u = rng.random((d, d))
    forward = rng.random((d, d)) < 0.5  # the preferred direction of pair (i, j), i < j
    upper = np.triu(np.ones((d, d), dtype=bool), 1)
    cross_pairs = np.argwhere(upper & cross)
    cross_pairs = cross_pairs[np.argsort(u[cross_pairs[:, 0], cross_pairs[:, 1]], kind="stable")]
    chosen = {tuple(p) for p in cross_pairs[: int(round(cross_density * len(cross_pairs)))]}

    # Every modality keeps a cross-modal edge (in or out): add its lowest-u pair, which is also the pair it
    # would gain first as the density rises, so the nesting survives the repair.
    for idx in blocks.values():
        if not any(i in idx or j in idx for i, j in chosen):
            chosen.add(next(tuple(p) for p in cross_pairs if p[0] in idx or p[1] in idx))
    within_pairs = [tuple(p) for p in np.argwhere(upper & ~cross) if u[p[0], p[1]] < within_density]

    # Orient pairs in order of u by a coin, reversing any edge that would close a cycle (its reverse never
    # can). Unlike orienting by one random causal order, this does not favour graphs with many linear
    # extensions, and it samples about twice as many graphs that pass the identifiability check.
    adjacency = np.zeros((d, d), dtype=bool)
    ordered = sorted(chosen, key=lambda p: u[p]) + sorted(within_pairs, key=lambda p: u[p])
    for i, j in ordered:
        source, target = (i, j) if forward[i, j] else (j, i)
        if _has_path(adjacency, target, source):
            source, target = target, source
        adjacency[source, target] = True
    return adjacency


def sample_dag(
    blocks: Mapping[str, Sequence[int]],
    rng: np.random.Generator,
    cross_density: float = 0.5,
    within_density: float = 0.5,
    accept: Accept | None = None,
    max_attempts: int = 1000,
) -> np.ndarray:
    """A random DAG over all latents, `(d, d)` bool with `adjacency[source, target]`.

    A fraction `cross_density` (rounded) of the cross-modal latent pairs become edges, and each within-modality
    pair with probability `within_density`; every modality keeps at least one cross-modal edge. Directions are
    random coins, flipped where needed to stay acyclic. For a fixed rng state, a higher density only adds pairs.
    With `accept`, graphs are resampled until `accept(adjacency, blocks)` is True (at most `max_attempts`).
    """
    if len(blocks) < 2:
        raise ConfigError("a multimodal latent graph needs at least two modalities")
    for name, value in (("cross_density", cross_density), ("within_density", within_density)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must lie in [0, 1] (got {value})")
    block_lists = {k: list(v) for k, v in blocks.items()}
    for _ in range(max_attempts):
        adjacency = _sample_once(block_lists, rng, cross_density, within_density)
        if accept is None or accept(adjacency.copy(), {k: list(v) for k, v in block_lists.items()}):
            return adjacency
    raise CrlError(
        f"no sampled latent graph passed the acceptance check in {max_attempts} attempts "
        f"(blocks {[len(v) for v in block_lists.values()]}, cross_density={cross_density}); "
        "raise cross_density, change the seed, or relax the check"
    )
