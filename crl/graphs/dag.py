"""Directed-graph helpers on adjacency matrices (`adjacency[i, j]` = an edge from latent i to latent j)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np


class CycleError(ValueError):
    """The graph has a cycle, so it has no causal order; `stuck` lists the nodes on or behind it."""

    def __init__(self, stuck: list[int]):
        super().__init__(f"adjacency has a cycle through nodes {stuck}")
        self.stuck = stuck


def topological_order(adjacency: np.ndarray) -> list[int]:
    """Parents before children (Kahn's algorithm, smallest ready index first, so the order is deterministic).

    Raises CycleError when no such order exists.
    """
    a = np.asarray(adjacency) != 0
    indegree = a.sum(axis=0).astype(int)
    ready = sorted(int(i) for i in np.flatnonzero(indegree == 0))
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for j in np.flatnonzero(a[i]):
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(int(j))
        ready.sort()
    if len(order) != a.shape[0]:
        placed = set(order)
        raise CycleError([k for k in range(a.shape[0]) if k not in placed])
    return order


def is_acyclic(adjacency: np.ndarray) -> bool:
    """True when the directed graph has no cycle."""
    try:
        topological_order(adjacency)
    except CycleError:
        return False
    return True


def cross_modal_mask(blocks: Mapping[str, Sequence[int]], n: int | None = None) -> np.ndarray:
    """(n, n) bool: True where the two latents sit in different blocks (modality -> latent indices).

    n defaults to the total number of latents in `blocks`; every latent must belong to a block.
    """
    if n is None:
        n = sum(len(idx) for idx in blocks.values())
    owner = np.full(n, -1)
    for b, idx in enumerate(blocks.values()):
        owner[list(idx)] = b
    if (owner < 0).any():
        raise ValueError(f"latents {np.nonzero(owner < 0)[0].tolist()} belong to no block")
    return owner[:, None] != owner[None, :]


def adjacency_from_pairs(names: Sequence[str], pairs: Iterable[tuple[str, str]]) -> np.ndarray:
    """(d, d) 0/1 int in the order of `names`; pairs naming unknown latents or self-loops are left out."""
    index = {name: i for i, name in enumerate(names)}
    adjacency = np.zeros((len(names), len(names)), dtype=int)
    for source, target in pairs:
        if source in index and target in index and source != target:
            adjacency[index[source], index[target]] = 1
    return adjacency
