"""What happens to the model at fixed steps of the warm-up, between two optimiser steps: the blocks are
realigned (crl.core.realign) and, at the warm-up's end, the blocks are unmixed when configured
(crl.core.unmix) and the graph adopts the sparsest causal order of the current latents
(crl.core.graph_search)."""

from __future__ import annotations

import math

import torch

from crl.config import Config
from crl.core.graph_search import adopt_order, search_order
from crl.core.model import CRLModel
from crl.core.realign import realign_blocks
from crl.core.unmix import unmix_blocks
from crl.engine import distributed
from crl.engine.schedules import realign_steps
from crl.engine.tensors import CohortTensors

# Subjects whose latents the order search scores (bounds its cost on large cohorts).
SEARCH_SUBJECTS = 2048
# Subjects whose encodings a block realignment regresses on each other.
REALIGN_SUBJECTS = 4096
# Subjects whose latents the block unmixing fits.
UNMIX_SUBJECTS = 8192
# Fewest complete subjects the realignment and the order search use by themselves when some lack a modality.
MIN_COMPLETE = 32


def complete_rows(tensors: CohortTensors, index: torch.Tensor, limit: int) -> torch.Tensor:
    """The first `limit` subjects of `index` that have every modality: inferred latents are smooth functions of
    the others, so they would make links look stronger than the data show. All of `index` (first `limit`) when
    nobody lacks a modality, or when fewer than MIN_COMPLETE are complete."""
    if tensors.present is None:
        return index[:limit]
    full = tensors.present.index_select(0, index.to(tensors.present.device)).all(1).cpu()
    chosen = index[full]
    return (chosen if len(chosen) >= MIN_COMPLETE else index)[:limit]


def posterior_means(
    model: CRLModel, tensors: CohortTensors, index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means (z, eta) of the subjects `index`, in evaluation mode, float32 on the model's device."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        means = [model.posterior(tensors.batch(chunk)) for chunk in torch.split(index, 256)]
    model.train(was_training)
    return torch.cat([m[0].float() for m in means]), torch.cat([m[2].float() for m in means])


def search_graph(
    model: CRLModel,
    tensors: CohortTensors,
    train_index: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> None:
    """At the end of the warm-up, point the graph at the sparsest causal order of the current latents
    (crl.core.graph_search); the graph's optimiser state is reset so old momentum does not pull it back."""
    loss = model.config.loss
    z, _ = posterior_means(model, tensors, complete_rows(tensors, train_index, SEARCH_SUBJECTS))
    order, kept, _ = search_order(
        model.prior, model.graph, z, cross_cost=loss.sparsity / loss.likelihood, generator=generator
    )
    adopt_order(model.graph, order, kept)
    for parameter in model.graph.parameters():
        optimizer.state.pop(parameter, None)


def realign(
    model: CRLModel,
    tensors: CohortTensors,
    train_index: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> None:
    """Turn each modality's z towards what the other modalities predict (crl.core.realign); the rotations'
    optimiser state is reset so old momentum does not turn them back."""
    z, eta = posterior_means(model, tensors, complete_rows(tensors, train_index, REALIGN_SUBJECTS))
    realign_blocks(model, z.cpu(), eta.cpu(), generator)
    context = distributed.current()
    for parameter in model.rotations.parameters():
        optimizer.state.pop(parameter, None)
        if context is not None and context.world_size > 1:
            # Ranks encode on different devices: rank 0's turn, to the last bit, keeps every rank's weights equal.
            torch.distributed.broadcast(parameter.data, src=0)


def unmix(
    model: CRLModel,
    tensors: CohortTensors,
    train_index: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    rounds: int,
    generator: torch.Generator,
) -> None:
    """Undo a linear mix inside each modality's block (crl.core.unmix); the prior takes the flows fitted to
    the unmixed latents under random graphs, which the order search that follows scores orders with."""
    z, _ = posterior_means(model, tensors, complete_rows(tensors, train_index, UNMIX_SUBJECTS))
    sizes = [model.latent_sizes[name] for name in model.names]
    matrices, prior = unmix_blocks(z, model.graph, sizes, model.fresh_prior, rounds, generator)
    for name, matrix in zip(model.names, matrices, strict=True):
        model.unmixing.compose(name, matrix)
    model.prior.load_state_dict(prior.state_dict())
    context = distributed.current()
    for parameter in model.prior.parameters():
        optimizer.state.pop(parameter, None)
    if context is not None and context.world_size > 1:
        # Ranks encode on different devices: rank 0's result, to the last bit, keeps every rank's weights equal.
        for tensor in [*model.unmixing.buffers(), *model.prior.parameters()]:
            torch.distributed.broadcast(tensor.data, src=0)


class WarmupEvents:
    """The realignments and the order search still due in one training, from `step` on."""

    def __init__(self, model: CRLModel, config: Config, total_steps: int, step: int):
        self.seed = config.train.seed
        # The order search runs just before the first step at or after the warm-up's end; a state saved at that
        # step (a resume exactly at the boundary) has not run it yet.
        self.search_step = math.ceil(config.loss.graph_warmup * total_steps)
        self.search_pending = (
            config.graph.search_order
            and model.method == "ours"
            and model.graph.by_order
            and bool(model.graph.free_mask.any())
            and config.loss.likelihood > 0
            and step <= self.search_step
        )
        self.search_generator = torch.Generator().manual_seed(self.seed + 3)
        # The unmixing runs just before the order search, once, and only after a warm-up: a sparsity-path
        # level (no warm-up) refits the graph of latents that must stay the run's own.
        self.unmix_rounds = config.prior.unmix
        self.unmix_pending = (
            self.search_pending
            and model.unmixing is not None
            and config.prior.unmix > 0
            and config.loss.graph_warmup > 0
        )
        # Realignments pending are those at or after the current step (a state saved at one has not run it).
        self.pending_realign = [s for s in realign_steps(config, total_steps) if s >= step]

    def run_due(
        self,
        model: CRLModel,
        tensors: CohortTensors,
        train_index: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        step: int,
    ) -> None:
        """Run whatever is due before optimiser step `step`: realignments first, then the order search."""
        while self.pending_realign and step >= self.pending_realign[0]:
            self.pending_realign.pop(0)
            realign(
                model, tensors, train_index, optimizer, torch.Generator().manual_seed(self.seed + 4 + step)
            )
        if self.unmix_pending and step >= self.search_step:
            unmix(
                model,
                tensors,
                train_index,
                optimizer,
                self.unmix_rounds,
                torch.Generator().manual_seed(self.seed + 5),
            )
            self.unmix_pending = False
        if self.search_pending and step >= self.search_step:
            search_graph(model, tensors, train_index, optimizer, self.search_generator)
            self.search_pending = False
