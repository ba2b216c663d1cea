"""Sparsest-order search: the causal order of the latents whose graph needs the fewest cross-modal edges.

The paper's identifiability argument (METHOD.md section 2) picks, among the graphs that explain the latents,
the one with the fewest cross-modal edges. Gradient steps on the order scores alone settle in the first order
that fits (bench/results/FINDINGS.md: on the true latents of paper case 1 they keep a reversed order whose
graph fits worse and needs more edges). This module searches orders directly, the sparsest-permutation idea
(Raskutti and Uhler 2018) with the prior's own flows as the independence test: the flows are trained under
randomly sampled graphs, so one conditioner scores any parent set. For a candidate order, each edge's effect in
the complete graph of that order says whether it pays for itself; the order's score is the negative
log-likelihood of the graph keeping only those edges, plus the sparsity cost of its cross-modal edges.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

from crl.graph import LatentGraph
from crl.prior import CausalFlowPrior

# Orders are enumerated exhaustively up to this many (6 latents); beyond, a local search over insertions.
EXHAUSTIVE_LIMIT = 720
# Gap between neighbouring ranks in the order scores once an order is chosen (sigmoid(4) = 0.98).
RANK_GAP = 4.0
# Existence logit given to kept (+) and dropped (-) edges (sigmoid(3) = 0.95).
EXISTENCE_LOGIT = 3.0


def complete_gates(graph: LatentGraph, order: Sequence[int]) -> torch.Tensor:
    """`(n, n)` gates opening every allowed edge that goes forward in `order`, plus the required edges."""
    n = graph.n_latent
    position = torch.empty(n, device=graph.free_mask.device)
    position[list(order)] = torch.arange(n, dtype=position.dtype, device=position.device)
    forward = (position[:, None] < position[None, :]).float()
    return graph.free_mask * forward + graph.required_mask


@torch.no_grad()
def score_order(
    prior: CausalFlowPrior,
    graph: LatentGraph,
    z: torch.Tensor,
    order: Sequence[int],
    cross_cost: float,
    within_cost: float,
) -> tuple[float, torch.Tensor]:
    """(score, kept gates `(n, n)`) of one order on latents `z` `(batch, n)`; lower scores are better.

    An edge is kept when switching it on in the order's complete graph lowers the mean negative log-likelihood
    by more than its cost (nats per subject); the score is the kept graph's NLL plus the costs of its edges.
    """
    full = complete_gates(graph, order)
    gates = full.expand(z.shape[0], -1, -1)
    effects = prior.edge_effects(z, gates)  # NLL(on) - NLL(off), (source, target)
    cost = graph.cross_mask * cross_cost + (1.0 - graph.cross_mask) * within_cost
    kept = graph.free_mask * full * (effects < -cost).float() + graph.required_mask
    nll = -prior.log_prob(z, kept.expand(z.shape[0], -1, -1)).mean()
    return float(nll + (kept * graph.free_mask * cost).sum()), kept


def _allowed(graph: LatentGraph, order: Sequence[int]) -> bool:
    """Whether `order` respects the tiers and puts every required edge's source before its target."""
    key = graph.order_offset if graph.by_order else torch.zeros(graph.n_latent)
    ranks = key[list(order)]
    if bool((ranks[1:] > ranks[:-1]).any()):
        return False
    position = {latent: k for k, latent in enumerate(order)}
    sources, targets = torch.nonzero(graph.required_mask, as_tuple=True)
    return all(position[int(s)] < position[int(t)] for s, t in zip(sources, targets, strict=True))


def _current_order(graph: LatentGraph) -> list[int]:
    key = graph.order + graph.order_offset if graph.by_order else torch.zeros(graph.n_latent)
    return [int(i) for i in torch.argsort(key, descending=True, stable=True)]


def search_order(
    prior: CausalFlowPrior,
    graph: LatentGraph,
    z: torch.Tensor,
    cross_cost: float,
    within_cost: float = 0.01,
    restarts: int = 3,
    generator: torch.Generator | None = None,
) -> tuple[list[int], torch.Tensor, float]:
    """(best order, its kept gates, its score): every order when there are few latents, else a local search
    over single moves (take one latent out, insert it elsewhere) from the graph's current order and `restarts`
    random orders."""
    n = graph.n_latent
    best: tuple[float, list[int], torch.Tensor] | None = None

    def consider(order: list[int]) -> float:
        nonlocal best
        if not _allowed(graph, order):
            return math.inf
        score, kept = score_order(prior, graph, z, order, cross_cost, within_cost)
        if best is None or score < best[0]:
            best = (score, list(order), kept)
        return score

    with torch.no_grad():
        if math.factorial(n) <= EXHAUSTIVE_LIMIT:
            for order in itertools.permutations(range(n)):
                consider(list(order))
        else:
            starts = [_current_order(graph)] + [
                [int(i) for i in torch.randperm(n, generator=generator)] for _ in range(restarts)
            ]
            for start in starts:
                if not _allowed(graph, start):
                    start = _current_order(graph)
                current, current_score = start, consider(start)
                improved = True
                while improved:
                    improved = False
                    for i in range(n):
                        for j in range(n):
                            if i == j:
                                continue
                            moved = current[:i] + current[i + 1 :]
                            moved.insert(j, current[i])
                            score = consider(moved)
                            if score < current_score - 1e-6:
                                current, current_score, improved = moved, score, True
    if best is None:  # no order satisfies the constraints: keep the graph as it is
        order = _current_order(graph)
        return order, complete_gates(graph, order), math.inf
    return best[1], best[2], best[0]


def adopt_order(graph: LatentGraph, order: Sequence[int], kept: torch.Tensor) -> None:
    """Point the graph's parameters at `order` and its kept edges; training then refines them."""
    n = graph.n_latent
    with torch.no_grad():
        if graph.by_order:
            scores = torch.empty(n, device=graph.order.device)
            scores[list(order)] = RANK_GAP * torch.arange(n, 0, -1, dtype=scores.dtype, device=scores.device)
            graph.order.copy_(scores - scores.mean())
        linked = ((kept + kept.t()) > 0).float() if graph.by_order else kept
        graph.existence.copy_(EXISTENCE_LOGIT * (2.0 * linked - 1.0))
