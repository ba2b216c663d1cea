"""Block unmixing: one invertible matrix per modality that undoes a linear mix left inside its block.

A rotation (crl.core.realign, the learnt rotations) cannot undo a mix that is not orthogonal, and gradient
steps leave such a mix where the warm-up put it (bench/results/FINDINGS.md, sessions 8 and 10). The likelihood
undoes it under the right graph, but a graph searched on mixed latents is itself wrong, so the two are found
in turns: flows trained under random graphs, the sparsest causal order of the current latents at a price of
`EDGE_COST` nats per cross-modal edge (crl.core.graph_search), then the matrices and fresh flows fitted by
maximum likelihood under the graph found, log|det| included so shrinking a block buys nothing. Ten rounds
at the end of the warm-up lifted MCC from 0.839 / 0.775 / 0.865 to 0.847 / 0.841 / 0.926 on paper cases 1 / 2
/ 3 (bench/results/unmix10-case*.md; six rounds gave 0.826 / 0.826 / 0.916).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from crl.core.graph_search import search_order
from crl.core.latent_graph import LatentGraph
from crl.core.prior import CausalFlowPrior

# Nats per cross-modal edge (a tenth within a modality) while unmixing: inside the window where case 2's true
# graph is the held-out likelihood's optimum once its blocks are remixed (bench/results/graph_margin.md); the
# engine's own price, 0.1, keeps too few edges to tell the latents of a block apart.
EDGE_COST = 0.02
# Adam steps (batch BATCH) for each fit of the flows, with or without the matrices: about PASSES passes over
# the subjects, within [MIN_STEPS, MAX_STEPS]: MAX_STEPS from 7680 subjects on (the benchmarks fit 8192).
PASSES = 100
MIN_STEPS, MAX_STEPS = 100, 1500
BATCH = 512
LEARNING_RATE = 3e-3
# Subjects the order search scores.
SEARCH_SUBJECTS = 2048


def random_graph_sampler(graph: LatentGraph) -> LatentGraph:
    """A copy of `graph` (its tiers, required and forbidden links) whose every free edge is open with
    probability 0.5 in a uniformly random order: what the flows train under before an order search."""
    fresh = copy.deepcopy(graph)
    with torch.no_grad():
        for parameter in fresh.parameters():
            parameter.zero_()
    return fresh


def steps_for(subjects: int) -> int:
    """Adam steps per fit: enough for the flows to settle, not thousands of passes over a small cohort."""
    return max(MIN_STEPS, min(MAX_STEPS, PASSES * subjects // BATCH))


def _batches(n: int, generator: torch.Generator):
    for _ in range(steps_for(n)):
        yield torch.randint(n, (BATCH,), generator=generator)


def flows_under_random_graphs(
    z: torch.Tensor,
    sampler: LatentGraph,
    make_prior: Callable[[], CausalFlowPrior],
    generator: torch.Generator,
) -> CausalFlowPrior:
    """Fresh flows fitted to `z` under graphs drawn by `sampler`: one pass then scores any order's edges."""
    prior = make_prior()
    optimizer = torch.optim.Adam(prior.parameters(), lr=LEARNING_RATE)
    for chosen in _batches(len(z), generator):
        gates = sampler.sample_gates(BATCH, generator=generator, mode="hard")
        loss = -prior.log_prob(z[chosen], gates).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return prior


def unmixed(z: torch.Tensor, sizes: list[int], matrices: list[torch.Tensor]) -> torch.Tensor:
    """`z` `(n, sum(sizes))` with each block multiplied on the right by its matrix."""
    parts = torch.split(z, sizes, dim=1)
    return torch.cat([p @ m for p, m in zip(parts, matrices, strict=True)], 1)


def fit_matrices(
    z: torch.Tensor,
    sizes: list[int],
    start: list[torch.Tensor],
    gates: torch.Tensor,
    make_prior: Callable[[], CausalFlowPrior],
    generator: torch.Generator,
) -> list[torch.Tensor]:
    """The block matrices, from `start`, and fresh flows fitted by maximum likelihood under fixed `gates`."""
    matrices = [torch.nn.Parameter(m.clone()) for m in start]
    prior = make_prior()
    optimizer = torch.optim.Adam([*matrices, *prior.parameters()], lr=LEARNING_RATE)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps_for(len(z)))
    for chosen in _batches(len(z), generator):
        log_det = sum(torch.linalg.slogdet(m)[1] for m in matrices)
        loss = -(prior.log_prob(unmixed(z[chosen], sizes, matrices), gates).mean() + log_det)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        decay.step()
    return [m.detach() for m in matrices]


def unmix_blocks(
    z: torch.Tensor,
    graph: LatentGraph,
    sizes: list[int],
    make_prior: Callable[[], CausalFlowPrior],
    rounds: int,
    generator: torch.Generator,
) -> tuple[list[torch.Tensor], CausalFlowPrior]:
    """`rounds` turns of order search and matrix fit on latents `z` `(n, d)`, blocks of `sizes` in `graph`'s
    order, on the CPU (the latents are few). Returns the matrices (right-multiplied, one per block) and flows
    trained under random graphs on the unmixed latents, ready for the engine's own order search."""
    # Fresh flows draw their first weights from torch's global generator: seed it from `generator` inside a
    # fork, so the result depends on `generator` alone and training's own random stream is left as it was.
    # Everything here is made on the CPU by name (the default device may be another one).
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        return _unmix_blocks(z.detach().float().cpu(), graph, sizes, make_prior, rounds, generator)


def _unmix_blocks(z, graph, sizes, make_prior, rounds, generator):
    sampler = random_graph_sampler(graph).cpu()
    matrices = [torch.eye(k) for k in sizes]
    with torch.no_grad():
        scale = z.std(0).clamp_min(1e-6)
    for _ in range(rounds):
        with torch.no_grad():
            current = unmixed(z, sizes, matrices)
        prior = flows_under_random_graphs(current, sampler, make_prior, generator)
        _, kept, _ = search_order(
            prior, sampler, current[:SEARCH_SUBJECTS], EDGE_COST, EDGE_COST / 10, generator=generator
        )
        matrices = fit_matrices(z, sizes, matrices, kept.detach(), make_prior, generator)
    # Each latent keeps its spread: the posterior's variances do not follow the matrices.
    with torch.no_grad():
        spread = unmixed(z, sizes, matrices).std(0).clamp_min(1e-6)
        matrices = [m * s for m, s in zip(matrices, torch.split(scale / spread, sizes), strict=True)]
        final = unmixed(z, sizes, matrices)
    return matrices, flows_under_random_graphs(final, sampler, make_prior, generator)
