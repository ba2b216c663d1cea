"""Sparsest-order search: the causal order of the latents whose graph needs the fewest cross-modal edges.

The paper's identifiability argument (docs/method.md §2) picks, among the graphs that explain the latents,
the one with the fewest cross-modal edges. Gradient steps on the order scores alone settle in the first order
that fits (bench/results/FINDINGS.md: on the true latents of paper case 1 they keep a wrong order whose graph
fits worse). This module searches orders directly, the sparsest-permutation idea (Raskutti and Uhler 2018)
with the prior's own flows as the independence test: the flows are trained under randomly sampled graphs, so
one conditioner scores any parent set.

An order's score is a sum over latents of a local score that depends only on the set of latents before it:
open an edge from every predecessor, keep the edges whose effect on the negative log-likelihood beats their
sparsity cost, and add the NLL with the kept parents to the cost of the kept edges. One pass of the flows
gives the local scores of every latent outside a predecessor set at once, so the best order over all n!
follows exactly from a dynamic programme over the 2^n sets (Silander and Myllymäki 2006); beyond
`EXACT_LIMIT` latents, a local search over insertion moves uses the same cached local scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from crl.core.latent_graph import LatentGraph
from crl.core.prior import LOG_SQRT_2PI, CausalFlowPrior

# The exact search visits 2^n predecessor sets: up to 8 latents (256 passes of the flows; measured 56 s for
# 2048 subjects on one thread of a busy 2-core machine, 8 s for 6 latents; each further latent doubles it).
EXACT_LIMIT = 8
# Gap between neighbouring ranks in the order scores once an order is chosen (sigmoid(4) = 0.98).
RANK_GAP = 4.0
# Existence logit given to kept (+) and dropped (-) edges (sigmoid(3) = 0.95).
EXISTENCE_LOGIT = 3.0


class LocalScores:
    """Cached local scores on fixed latents `z` `(batch, n)`; `cross_cost` / `within_cost` are nats per edge."""

    def __init__(
        self,
        prior: CausalFlowPrior,
        graph: LatentGraph,
        z: torch.Tensor,
        cross_cost: float,
        within_cost: float,
    ):
        self.prior, self.graph, self.z = prior, graph, z
        self.cost = graph.cross_mask * cross_cost + (1.0 - graph.cross_mask) * within_cost
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def of(self, before: int) -> tuple[torch.Tensor, torch.Tensor]:
        """For the predecessor set `before` (a bit mask): (local score of every latent `(n,)`, meaningful for
        latents outside the set; kept edges `(n, n)`, columns of those latents)."""
        if before not in self.cache:
            graph, n = self.graph, self.graph.n_latent
            inside = torch.tensor(
                [(before >> i) & 1 for i in range(n)], dtype=self.z.dtype, device=self.z.device
            )
            full = graph.free_mask * inside[:, None] * (1.0 - inside)[None, :] + graph.required_mask
            batch = self.z.shape[0]
            effects = self.prior.edge_effects(self.z, full.expand(batch, -1, -1))  # NLL(on) - NLL(off)
            kept = graph.free_mask * full * (effects < -self.cost).float() + graph.required_mask
            eps, log_det = self.prior(self.z, kept.expand(batch, -1, -1))
            nll = (0.5 * eps.pow(2) + LOG_SQRT_2PI - log_det).mean(0)
            score = nll + (kept * graph.free_mask * self.cost).sum(0)
            self.cache[before] = (score, kept)
        return self.cache[before]

    def order_score(self, order: Sequence[int]) -> tuple[float, torch.Tensor]:
        """(score, kept gates `(n, n)`) of a whole order: the sum of its latents' local scores."""
        total, kept, before = 0.0, torch.zeros_like(self.graph.free_mask), 0
        for latent in order:
            score, edges = self.of(before)
            total += float(score[latent])
            kept[:, latent] = edges[:, latent]
            before |= 1 << latent
        return total, kept


def _may_follow(graph: LatentGraph, before: int, latent: int) -> bool:
    """Whether `latent` may come right after the set `before`: no latent of an earlier tier is still to come,
    and the sources of its required edges are already placed."""
    n = graph.n_latent
    offset = graph.order_offset if graph.by_order else torch.zeros(n, device=graph.free_mask.device)
    later = [u for u in range(n) if not (before >> u) & 1 and u != latent]
    if later and float(offset[later].max()) > float(offset[latent]):
        return False
    sources = torch.nonzero(graph.required_mask[:, latent]).flatten().tolist()
    return all((before >> s) & 1 for s in sources)


def _exact(graph: LatentGraph, local: LocalScores) -> list[int] | None:
    """The best order by dynamic programming over predecessor sets (None when constraints allow none)."""
    n = graph.n_latent
    best: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
    for before in range(1 << n):  # every subset of a set is numerically smaller than it
        if before not in best:
            continue
        so_far, order = best[before]
        scores = None
        for latent in range(n):
            if (before >> latent) & 1 or not _may_follow(graph, before, latent):
                continue
            if scores is None:
                scores = local.of(before)[0]
            after, total = before | (1 << latent), so_far + float(scores[latent])
            if after not in best or total < best[after][0]:
                best[after] = (total, order + [latent])
    return best.get((1 << n) - 1, (math.inf, None))[1]


def _allowed(graph: LatentGraph, order: Sequence[int]) -> bool:
    before = 0
    for latent in order:
        if not _may_follow(graph, before, latent):
            return False
        before |= 1 << latent
    return True


def _current_order(graph: LatentGraph) -> list[int]:
    key = (
        graph.order + graph.order_offset
        if graph.by_order
        else torch.zeros(graph.n_latent, device=graph.free_mask.device)
    )
    return [int(i) for i in torch.argsort(key, descending=True, stable=True)]


def _local_search(
    graph: LatentGraph, local: LocalScores, restarts: int, generator: torch.Generator | None
) -> list[int] | None:
    """Insertion moves (take one latent out, put it elsewhere) from the current order and random ones."""
    n = graph.n_latent
    best: tuple[float, list[int]] | None = None
    starts = [_current_order(graph)] + [
        [int(i) for i in torch.randperm(n, generator=generator, device="cpu")] for _ in range(restarts)
    ]
    for current in starts:
        if not _allowed(graph, current):
            continue
        current_score = local.order_score(current)[0]
        improved = True
        while improved:
            improved = False
            for i in range(n):
                for j in range(n):
                    moved = current[:i] + current[i + 1 :]
                    moved.insert(j, current[i])
                    if i == j or not _allowed(graph, moved):
                        continue
                    score = local.order_score(moved)[0]
                    if score < current_score - 1e-6:
                        current, current_score, improved = moved, score, True
        if best is None or current_score < best[0]:
            best = (current_score, current)
    return None if best is None else best[1]


def search_order(
    prior: CausalFlowPrior,
    graph: LatentGraph,
    z: torch.Tensor,
    cross_cost: float,
    within_cost: float = 0.01,
    restarts: int = 3,
    generator: torch.Generator | None = None,
) -> tuple[list[int], torch.Tensor, float]:
    """(best order, its kept gates `(n, n)`, its score) for latents `z` `(batch, n)`: exact up to
    `EXACT_LIMIT` latents, else a local search. Orders respect tiers and required edges; when none can, the
    graph's current order comes back with an infinite score."""
    local = LocalScores(prior, graph, z, cross_cost, within_cost)
    if graph.n_latent <= EXACT_LIMIT:
        order = _exact(graph, local)
    else:
        order = _local_search(graph, local, restarts, generator)
    if order is None:
        order = _current_order(graph)
        return order, local.order_score(order)[1], math.inf
    score, kept = local.order_score(order)
    return order, kept, score


def complete_gates(graph: LatentGraph, order: Sequence[int]) -> torch.Tensor:
    """`(n, n)` gates opening every allowed edge that goes forward in `order`, plus the required edges."""
    n = graph.n_latent
    position = torch.empty(n, device=graph.free_mask.device)
    position[list(order)] = torch.arange(n, dtype=position.dtype, device=position.device)
    forward = (position[:, None] < position[None, :]).float()
    return graph.free_mask * forward + graph.required_mask


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
