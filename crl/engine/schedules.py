"""Pure schedules of one training: how many steps, the learning-rate factors, the graph's loss weights and
when the blocks are realigned. Functions of the configuration and the step only, so they can be tested and
plotted without training."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from crl.config import Config
from crl.data.cohort import validation_count


@dataclass(frozen=True)
class StepPlan:
    """How long one training runs, in batches, steps and epochs."""

    batch_size: int
    steps_per_epoch: int
    epochs: int
    total_steps: int
    schedule_steps: int  # steps until the graph schedule is complete (0 for the baselines: no graph)
    min_epochs: int  # early stopping waits at least this long


def plan_steps(config: Config, n_train: int) -> StepPlan:
    """The step plan for `n_train` training subjects: equal-sized steps (the ragged tail is dropped), at least
    `train.min_steps` of them, and no early stop before the graph schedule is complete."""
    t = config.train
    batch_size = min(t.batch_size, n_train)
    steps_per_epoch = max(1, n_train // batch_size)  # drop the ragged tail: equal-sized steps
    epochs = max(t.epochs, math.ceil(t.min_steps / steps_per_epoch))
    total_steps = epochs * steps_per_epoch
    # Early stopping waits until the graph schedule is complete, and only epochs after it compete for the best
    # weights: earlier ones can score well on a graph that is still dense (the baselines have no graph).
    schedule_end = config.loss.graph_warmup + config.loss.acyclicity_warmup
    schedule_steps = math.ceil(schedule_end * total_steps) if config.method == "ours" else 0
    min_epochs = max(t.min_epochs, math.ceil(schedule_end * epochs))
    return StepPlan(batch_size, steps_per_epoch, epochs, total_steps, schedule_steps, min_epochs)


def plan_for_cohort(config: Config, n_subjects: int) -> StepPlan:
    """plan_steps for a cohort of `n_subjects` before it is split: what the Train page announces."""
    return plan_steps(
        config, max(1, n_subjects - validation_count(n_subjects, config.train.validation_fraction))
    )


def lr_factor(config: Config, total_steps: int) -> Callable[[int], float]:
    """The plain learning-rate factor at a step: linear warm-up, then constant or cosine decay to
    `train.min_lr_ratio`."""
    t = config.train

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / max(t.warmup_steps, 1))
        if t.schedule != "cosine":
            return warm
        progress = min(1.0, step / max(total_steps, 1))
        return warm * (t.min_lr_ratio + (1.0 - t.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))

    return factor


def lr_factors(config: Config, total_steps: int) -> list[Callable[[int], float]]:
    """Per optimiser group (see crl.engine.optimiser.adam). The representation's factor (encoders, decoders,
    rotations) is graph.representation_lr_after_warmup from the end of the warm-up until the graph schedule is
    complete, and graph.networks_lr_after_schedule after it; the prior and the graph follow the plain schedule.
    The baselines have no graph to learn, so their representation follows the plain schedule throughout."""
    base = lr_factor(config, total_steps)
    if config.method != "ours":
        return [base, base, base]
    warm = config.loss.graph_warmup
    done = warm + config.loss.acyclicity_warmup
    during, after = config.graph.representation_lr_after_warmup, config.graph.networks_lr_after_schedule

    def representation(step: int) -> float:
        progress = step / max(total_steps, 1)
        return base(step) * (after if progress >= done else during if progress >= warm else 1.0)

    return [representation, base, base]


def schedule(config: Config, step: int, total_steps: int) -> tuple[float, float, float]:
    """(warm-up blend, sparsity weight, acyclicity weight) at `step`.

    During the first `loss.graph_warmup` of training the prior sees every cross-modal edge and no penalty
    applies; over the next `loss.acyclicity_warmup` the warm-up gates fade out while sparsity and acyclicity rise
    linearly to their configured weights.
    """
    loss = config.loss
    progress = step / max(total_steps, 1)
    if progress < loss.graph_warmup:
        return 1.0, 0.0, 0.0
    ramp = (
        1.0
        if loss.acyclicity_warmup <= 0
        else min(1.0, (progress - loss.graph_warmup) / loss.acyclicity_warmup)
    )
    return 1.0 - ramp, loss.sparsity * ramp, loss.acyclicity * ramp


def realign_steps(config: Config, total_steps: int) -> list[int]:
    """The steps before which crl.core.realign turns the blocks: `prior.realign` of them, evenly inside the warm-up.
    None without a warm-up (a sparsity-path level refits the graph of latents that must stay as they are)."""
    count = config.prior.realign if config.method == "ours" and config.prior.rotation else 0
    warm = config.loss.graph_warmup * total_steps
    return sorted({s for i in range(count) if 0 < (s := math.ceil(warm * (i + 1) / (count + 1))) < warm})
