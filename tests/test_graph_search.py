"""The sparsest-order search finds a collider that gradient steps on the order may miss, and hands it to the
graph's parameters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from crl.core.graph_search import LocalScores, adopt_order, complete_gates, search_order
from crl.core.latent_graph import LatentGraph
from crl.core.prior import CausalFlowPrior

torch.set_num_threads(1)

NAMES = ["a.z0", "a.z1", "b.z0", "b.z1"]
MODALITY = [0, 0, 1, 1]


def _collider(n: int = 4000) -> torch.Tensor:
    """a.z0 -> b.z0 <- a.z1; b.z1 independent. Only orders with b.z0 after both causes need just two edges."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, 4, generator=g)
    z[:, 2] = 0.7 * torch.tanh(1.5 * z[:, 0]) + 0.7 * z[:, 1] + 0.4 * z[:, 2]
    return (z - z.mean(0)) / z.std(0)


def _fit_flows(z: torch.Tensor, graph: LatentGraph, steps: int = 400) -> CausalFlowPrior:
    """Flows trained under sampled graphs, as during training's warm-up (the graph's parameters stay put)."""
    torch.manual_seed(0)
    prior = CausalFlowPrior(len(NAMES))
    optimizer = torch.optim.Adam(prior.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        batch = z[torch.randint(len(z), (256,), generator=g)]
        gates = graph.sample_gates(256, generator=g, mode="hard")
        loss = -prior.log_prob(batch, gates).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return prior


def test_search_finds_the_collider_and_the_graph_adopts_it():
    z = _collider()
    graph = LatentGraph(NAMES, MODALITY, initial_strength=0.9)
    prior = _fit_flows(z, graph)
    order, kept, score = search_order(prior, graph, z[:2048], cross_cost=0.1)
    expected = np.zeros((4, 4))
    expected[0, 2] = expected[1, 2] = 1.0
    np.testing.assert_array_equal(kept.numpy(), expected)
    assert order.index(2) > order.index(0) and order.index(2) > order.index(1)
    # A wrong order (the collider first) scores worse, and the exact search agrees with trying every order.
    local = LocalScores(prior, graph, z[:2048], 0.1, 0.01)
    assert local.order_score([2, 0, 1, 3])[0] > score
    every = min(local.order_score(list(o))[0] for o in itertools.permutations(range(4)))
    assert score == pytest.approx(every)
    adopt_order(graph, order, kept)
    a = graph.strengths()
    assert a[0, 2] > 0.9 and a[1, 2] > 0.9
    off = np.ones((4, 4), dtype=bool)
    off[0, 2] = off[1, 2] = False
    np.fill_diagonal(off, False)
    assert a[off].max() < 0.1


def test_search_keeps_tiers_and_required_edges():
    z = _collider()
    # Tiers put modality b first, so no edge may enter b from a; a required edge must survive.
    graph = LatentGraph(NAMES, MODALITY, tiers=[1, 0], required=[("b.z1", "a.z0")], initial_strength=0.9)
    prior = _fit_flows(z, graph, steps=50)
    order, kept, _ = search_order(prior, graph, z[:512], cross_cost=0.1)
    assert set(order[:2]) == {2, 3}  # both b latents come first
    assert kept[3, 0] == 1.0 and kept[0:2, 2:4].sum() == 0


def test_complete_gates_open_every_forward_edge():
    graph = LatentGraph(NAMES, MODALITY)
    gates = complete_gates(graph, [3, 1, 0, 2])
    assert gates[3].sum() == 3 and gates[:, 3].sum() == 0 and gates[1, 0] == 1 and gates[0, 1] == 0


def test_local_search_is_used_beyond_the_exact_limit(monkeypatch):
    """Past the exact limit, insertion moves from a few starts still return a valid order."""
    import crl.core.graph_search as search

    monkeypatch.setattr(search, "EXACT_LIMIT", 4)
    names = [f"m{k}.z{i}" for k in range(4) for i in range(2)]
    modality = [k for k in range(4) for _ in range(2)]
    graph = LatentGraph(names, modality, initial_strength=0.9)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1000, 8, generator=g)
    z[:, 7] = 0.8 * z[:, 0] + 0.6 * z[:, 7]
    prior = CausalFlowPrior(8)
    order, kept, score = search_order(prior, graph, z[:256], cross_cost=0.1, restarts=1, generator=g)
    assert sorted(order) == list(range(8)) and np.isfinite(score)
