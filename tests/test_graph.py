"""The latent graph: edges learn from the likelihood alone, acyclicity penalty, masks, strength convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crl.core.latent_graph import LatentGraph, acyclicity_penalty
from crl.core.prior import CausalFlowPrior

torch.set_num_threads(1)

NAMES = ["a.z0", "a.z1", "b.z0", "b.z1"]
MODALITY = [0, 0, 1, 1]


def test_acyclicity_zero_on_dags_positive_on_cycles():
    dag = torch.tensor([[0, 0.9, 0.7, 0], [0, 0, 0.8, 0.5], [0, 0, 0, 1.0], [0, 0, 0, 0]])
    assert acyclicity_penalty(dag).abs().item() < 1e-6
    # The same DAG under a node relabelling is still a DAG.
    perm = torch.tensor([2, 0, 3, 1])
    assert acyclicity_penalty(dag[perm][:, perm]).abs().item() < 1e-6
    two_cycle = dag.clone()
    two_cycle[3, 2] = 0.5
    three_cycle = dag.clone()
    three_cycle[3, 0] = 0.5
    assert acyclicity_penalty(two_cycle).item() > 0.1
    assert acyclicity_penalty(three_cycle).item() > 0.01
    # Stronger cycles cost more.
    stronger = two_cycle.clone()
    stronger[3, 2] = 1.0
    assert acyclicity_penalty(stronger) > acyclicity_penalty(two_cycle)


def test_likelihood_alone_sends_gradient_to_every_free_edge():
    """The flaw of the authors' code (hard threshold) would give exactly zero here."""
    torch.manual_seed(0)
    graph = LatentGraph(NAMES, MODALITY)
    prior = CausalFlowPrior(len(NAMES))
    z = torch.randn(64, len(NAMES))
    z[:, 2] += 0.8 * z[:, 0]  # a dependence for the prior to use
    gates = graph.sample_gates(64, generator=torch.Generator().manual_seed(1))
    nll = -prior.log_prob(z, gates).mean()
    nll.backward()
    grads = [p.grad for p in graph.parameters()]
    assert all(g is not None for g in grads)
    existence = graph.existence.grad
    off_diagonal = ~torch.eye(len(NAMES), dtype=torch.bool)
    assert (existence[off_diagonal].abs() > 0).all(), existence
    assert graph.order.grad.abs().sum() > 0  # the causal order learns from the likelihood too


def test_strength_convention_source_row_target_column():
    graph = LatentGraph(NAMES, MODALITY, required=[("a.z0", "b.z1")], forbidden=[("b.z0", "a.z1")])
    a = graph.strengths()
    assert a.shape == (4, 4)
    assert a[0, 3] == 1.0  # required a.z0 -> b.z1 sits in row a.z0, column b.z1
    assert a[2, 1] == 0.0  # forbidden b.z0 -> a.z1
    assert np.all(np.diag(a) == 0)
    assert ("a.z0", "b.z1", 1.0) in graph.edges(threshold=0.99)


def test_tiers_allow_only_earlier_or_same_tier_sources():
    graph = LatentGraph(NAMES, MODALITY, tiers=[1, 0])  # modality b causes modality a
    a = graph.strengths()
    assert np.all(a[0:2, 2:4] == 0)  # a -> b impossible
    assert np.all(a[2:4, 0:2] > 0)  # b -> a allowed
    assert a[0, 1] > 0 and a[1, 0] > 0  # within a tier the order is free


def test_sparsity_counts_cross_modal_edges_only():
    graph = LatentGraph(NAMES, MODALITY)
    with torch.no_grad():
        graph.existence.fill_(-20.0)
        graph.existence[0, 1] = 20.0  # within modality a
    assert graph.sparsity().item() < 1e-6
    with torch.no_grad():
        graph.existence[0, 2] = 20.0  # cross-modal
    assert graph.sparsity().item() > 0.4


@pytest.mark.parametrize("layout", ["order", "pairwise"])
def test_two_directions_of_a_pair_share_one_orientation(layout):
    graph = LatentGraph(NAMES, MODALITY, initial_strength=0.999, orientation=layout)
    with torch.no_grad():
        if layout == "order":
            graph.order[0] = 3.0  # a.z0 ahead of every other latent by 3
        else:
            graph.orientation[0, 2] = 3.0
    a = graph.strengths()
    assert a[0, 2] + a[2, 0] == pytest.approx(0.999, abs=1e-3)
    assert a[0, 2] == pytest.approx(0.999 / (1 + np.exp(-3.0)), abs=1e-4)


@pytest.mark.parametrize("layout", ["order", "pairwise"])
def test_gates_follow_strengths_and_are_reproducible(layout):
    graph = LatentGraph(NAMES, MODALITY, initial_strength=0.9, orientation=layout)
    with torch.no_grad():
        if layout == "order":
            graph.order.copy_(torch.tensor([2.0, -1.0, 0.5, 0.0]))
        else:
            graph.orientation[0, 2] = 4.0
    g1 = graph.sample_gates(4000, generator=torch.Generator().manual_seed(3))
    g2 = graph.sample_gates(4000, generator=torch.Generator().manual_seed(3))
    assert torch.equal(g1, g2)
    mean = g1.detach().mean(0).numpy()
    np.testing.assert_allclose(mean, graph.strengths(), atol=0.05)


def test_disabled_graph_has_no_edges():
    graph = LatentGraph(NAMES, MODALITY, enabled=False)
    assert np.all(graph.strengths() == 0)
    assert graph.sample_gates(3).abs().sum() == 0


def test_a_sampled_graph_never_holds_both_directions_of_a_pair():
    graph = LatentGraph(NAMES, MODALITY, initial_strength=0.95)
    gates = graph.sample_gates(2000, generator=torch.Generator().manual_seed(0)).detach()
    assert set(gates.unique().tolist()) <= {0.0, 1.0}  # straight-through: exact 0/1 in the forward pass
    assert (gates * gates.transpose(1, 2)).sum() == 0
    # Each pair is linked with probability sigmoid(existence), in one direction or the other.
    linked = (gates + gates.transpose(1, 2))[:, 0, 2].mean().item()
    assert abs(linked - 0.95) < 0.02


def test_relaxed_gates_are_differentiable_without_straight_through():
    graph = LatentGraph(NAMES, MODALITY, straight_through=False)
    gates = graph.sample_gates(8, generator=torch.Generator().manual_seed(0))
    assert ((gates > 0) & (gates < 1)).any()
    gates.sum().backward()
    assert graph.existence.grad.abs().sum() > 0


def test_every_sampled_graph_is_acyclic_when_orders_are_sampled():
    """One Gumbel key per latent orders each sample, so even a dense, undecided graph never holds a cycle
    (the pairwise layout can: a -> b -> c -> a)."""
    names = [f"m{k}.z{i}" for k in range(3) for i in range(2)]
    modality = [k for k in range(3) for _ in range(2)]
    graph = LatentGraph(names, modality, initial_strength=0.999)
    gates = graph.sample_gates(500, generator=torch.Generator().manual_seed(0)).detach()
    assert max(acyclicity_penalty(g).item() for g in gates) < 1e-5
    pairwise = LatentGraph(names, modality, initial_strength=0.999, orientation="pairwise")
    gates = pairwise.sample_gates(500, generator=torch.Generator().manual_seed(0)).detach()
    assert max(acyclicity_penalty(g).item() for g in gates) > 1e-3


def test_sampled_orders_respect_tiers():
    graph = LatentGraph(NAMES, MODALITY, tiers=[1, 0], initial_strength=0.999)  # b causes a
    with torch.no_grad():
        graph.order.copy_(torch.tensor([5.0, 5.0, -5.0, -5.0]))  # scores that would put a first
    a = graph.strengths()
    assert np.all(a[2:4, 0:2] > 0.99)  # the tiers win: b -> a stays open
    gates = graph.sample_gates(200, generator=torch.Generator().manual_seed(0)).detach()
    assert gates[:, 0:2, 2:4].sum() == 0
