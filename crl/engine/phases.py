"""The phases of one training epoch: optimiser steps over the shuffled training subjects, then the validation
pass that judges the epoch (learning-rate plateau, early stopping, history)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crl.core.model import CRLModel, LossRecord
from crl.engine.callbacks import call_hooks
from crl.engine.schedules import schedule
from crl.engine.state import Training
from crl.engine.tensors import CohortTensors
from crl.errors import TrainingError


@dataclass
class EpochRun:
    """How one epoch's optimiser steps went."""

    terms: dict[str, float]  # mean loss terms over its batches
    batches: int
    seconds: float
    stopped: bool  # a callback's on_step asked to stop


def _nonfinite_error(record: LossRecord, step: int, epoch: int) -> TrainingError:
    bad = [name for name, value in record.as_floats().items() if not math.isfinite(value)]
    terms = ", ".join(bad) if bad else "total"
    return TrainingError(
        f"training diverged at step {step} (epoch {epoch}): the loss term(s) {terms} became NaN or infinite. "
        "Try a smaller learning rate (--set train.lr=5e-4), a tighter gradient clip (--set train.grad_clip=1), "
        "or check the cohort for extreme values"
    )


def train_step(training: Training, batch: dict[str, torch.Tensor], epoch: int) -> LossRecord:
    """One optimiser step on `batch` at the schedule's current weights; the step counter moves on."""
    model, optimizer, step = training.model, training.optimizer, training.step
    config, device, dtype = training.config, training.device, training.dtype
    warmup, s_weight, a_weight = schedule(config, step, training.plan.total_steps)
    with torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        record = model.loss(
            batch,
            generator=training.sample_generator,
            sparsity_weight=s_weight,
            acyclicity_weight=a_weight,
            warmup=warmup,
            frozen_representation=model.method == "ours" and optimizer.param_groups[0]["lr"] == 0.0,
        )
    if not torch.isfinite(record.total).item():
        raise _nonfinite_error(record, step, epoch)
    optimizer.zero_grad(set_to_none=True)
    training.scaler.scale(record.total).backward()
    training.scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
    if not torch.isfinite(grad_norm).item() and dtype != torch.float16:
        raise TrainingError(
            f"gradients became NaN or infinite at step {step} (epoch {epoch}) although the loss was finite; "
            "try a smaller learning rate (--set train.lr=5e-4) or --set train.mixed_precision=off"
        )
    training.scaler.step(optimizer)
    training.scaler.update()
    training.scheduler.step()
    training.step = step + 1
    return record


def train_epoch(training: Training, epoch: int, callbacks: Sequence[Any], want_steps: bool) -> EpochRun:
    """One pass over the shuffled training subjects in equal-sized batches, running the warm-up's events when
    due; `on_step` callbacks (called only when `want_steps`) may cut it short."""
    training.epoch = epoch
    epoch_started = time.perf_counter()
    batch_size = training.plan.batch_size
    order = torch.randperm(len(training.train_index), generator=training.order_generator, device="cpu")
    sums: dict[str, torch.Tensor] = {}
    stopped = False
    for b in range(training.plan.steps_per_epoch):
        idx = training.train_index[order[b * batch_size : (b + 1) * batch_size]]
        batch = training.tensors.batch(idx)
        training.warmup.run_due(
            training.model, training.tensors, training.train_index, training.optimizer, training.step
        )
        record = train_step(training, batch, epoch)
        for name, value in record.terms().items():
            sums[name] = sums.get(name, 0.0) + value.detach().float()
        if want_steps:
            info = {
                "step": training.step,
                "epoch": epoch,
                "lr": training.optimizer.param_groups[1]["lr"],
                "losses": record.as_floats(),
                "samples_per_second": (b + 1) * batch_size / max(time.perf_counter() - epoch_started, 1e-9),
            }
            if call_hooks(callbacks, "on_step", info):
                stopped = True
                break

    terms = dict(zip(sums.keys(), torch.stack(list(sums.values())).div(max(b + 1, 1)).tolist(), strict=False))
    return EpochRun(terms, b + 1, time.perf_counter() - epoch_started, stopped)


def evaluate(
    model: CRLModel,
    tensors: CohortTensors,
    indices: np.ndarray,
    seed: int,
    batch_size: int = 2048,
    dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Mean loss terms over `indices`, with a fixed-seed generator so successive evaluations are comparable."""
    device = tensors.device
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    count = 0
    index = torch.as_tensor(indices, dtype=torch.long, device="cpu")
    batch_size = tensors.pass_chunk(batch_size)
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            chunk = index[start : start + batch_size]
            batch = tensors.batch(chunk)
            with torch.autocast(
                device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                record = model.loss(batch, generator=generator)
            for name, value in record.terms().items():
                sums[name] = sums.get(name, 0.0) + value.detach().float() * len(chunk)
            count += len(chunk)
    model.train(was_training)
    if count == 0:
        return {}
    values = torch.stack(list(sums.values())).div(count).tolist()
    return dict(zip(sums.keys(), values, strict=False))


def close_epoch(training: Training, run: EpochRun) -> dict[str, Any]:
    """Validate the epoch just trained (on the training terms when there is no validation split), step the
    plateau schedule, let early stopping judge it, and append its history entry, which it returns."""
    t = training.config.train
    if len(training.validation_indices):
        validation = evaluate(
            training.model,
            training.tensors,
            training.validation_indices,
            seed=t.seed + 2,
            dtype=training.dtype,
        )
    else:
        validation = dict(run.terms)
    criterion = validation["total"]
    if not math.isfinite(criterion):
        raise TrainingError(
            f"the validation loss became NaN or infinite at epoch {training.epoch}; try a smaller learning rate "
            "(--set train.lr=5e-4) or check the validation subjects for extreme values"
        )
    if training.plateau is not None:
        training.plateau.step(criterion)
    training.stopping.judge(training.model, criterion, training.epoch, training.step)
    entry = {
        "epoch": training.epoch,
        "step": training.step,
        "lr": training.optimizer.param_groups[1]["lr"],
        "seconds": run.seconds,
        "samples_per_second": run.batches * training.plan.batch_size / max(run.seconds, 1e-9),
        "train": run.terms,
        "validation": validation,
        "validation_loss": criterion,
        "best_epoch": training.stopping.best_epoch,
    }
    training.history.append(entry)
    return entry
