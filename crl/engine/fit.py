"""Training: fit() with mini-batch Adam, validation-based early stopping, LR schedule, callbacks.

fit() is the sequence of steps below; each step lives in its own module: the cohort as tensors
(crl.engine.tensors), the step plan and schedules (schedules), the optimiser (optimiser), the training state
and resuming (state), the warm-up's realignments and order search (warmup), one epoch's steps and its
validation (phases), early stopping (early_stopping) and encoding a cohort afterwards (encode). The names
callers know from this module are re-exported here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crl.config import Config
from crl.core.model import CRLModel
from crl.data.cohort import Cohort, Normaliser
from crl.engine.callbacks import call_hooks
from crl.engine.encode import encode_cohort, latent_table
from crl.engine.phases import close_epoch, evaluate, train_epoch
from crl.engine.schedules import realign_steps, schedule
from crl.engine.state import start_training
from crl.engine.tensors import DEVICE_RESIDENT_BYTES, CohortTensors, check_finite
from crl.engine.warmup import REALIGN_SUBJECTS, SEARCH_SUBJECTS, WarmupEvents

__all__ = [
    "DEVICE_RESIDENT_BYTES",
    "REALIGN_SUBJECTS",
    "SEARCH_SUBJECTS",
    "CohortTensors",
    "FitResult",
    "call_hooks",
    "check_finite",
    "encode_cohort",
    "evaluate",
    "fit",
    "latent_table",
    "realign_steps",
    "schedule",
]


@dataclass
class FitResult:
    """What fit() returns: the trained model (best validation weights restored) and how training went."""

    model: CRLModel
    normaliser: Normaliser
    train_indices: np.ndarray
    validation_indices: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)  # one dict per epoch
    best_epoch: int = -1
    best_validation_loss: float = math.inf
    epochs_run: int = 0
    steps: int = 0
    stopped_early: bool = False
    stopped_by_callback: bool = False
    device: str = "cpu"
    seconds: float = 0.0
    restarts: list[dict[str, Any]] = field(
        default_factory=list
    )  # one summary per restart (crl.engine.restarts)
    restart: int = 0  # the restart kept


def fit(
    model: CRLModel,
    cohort: Cohort,
    config: Config | None = None,
    callbacks: Sequence[Any] = (),
    resume: dict[str, Any] | None = None,
    split_seed: int | None = None,
) -> FitResult:
    """Train `model` on `cohort` and return it with the best validation weights restored.

    Callbacks are objects with any of `on_start(info)`, `on_step(info)`, `on_epoch(info)`, `on_end(info)`;
    `on_step` / `on_epoch` may return True to stop training (e.g. a stop file). `on_epoch` info carries
    `training_state()`, a function returning everything needed to resume (see crl.runs.checkpoint).
    `resume` is such a state: training continues from its epoch with its optimiser and generators.
    `split_seed` draws the validation split (default `train.seed`); restarts share one (crl.engine.restarts).
    """
    config = config or model.config
    started = time.perf_counter()
    training = start_training(model, cohort, config, resume, split_seed)
    result = FitResult(
        model,
        training.normaliser,
        training.train_indices,
        training.validation_indices,
        history=training.history,
        device=str(training.device),
    )
    call_hooks(callbacks, "on_start", training.start_info())
    want_steps = any(getattr(c, "on_step", None) is not None for c in callbacks)
    training.warmup = WarmupEvents(model, config, training.plan.total_steps, training.step)

    model.train()
    for epoch in range(training.start_epoch, training.plan.epochs):
        run = train_epoch(training, epoch, callbacks, want_steps)
        entry = close_epoch(training, run)
        result.epochs_run, result.steps = epoch + 1, training.step
        asked = call_hooks(
            callbacks, "on_epoch", {**entry, "model": model, "training_state": training.snapshot}
        )
        if run.stopped or asked:
            result.stopped_by_callback = True
            break
        if training.stopping.exhausted(epoch):
            result.stopped_early = True
            break

    training.stopping.restore_best(model)
    model.eval()
    result.best_epoch = training.stopping.best_epoch
    result.best_validation_loss = training.stopping.best_validation_loss
    result.seconds = time.perf_counter() - started
    call_hooks(
        callbacks,
        "on_end",
        {
            "best_epoch": result.best_epoch,
            "best_validation_loss": result.best_validation_loss,
            "epochs_run": result.epochs_run,
            "seconds": result.seconds,
        },
    )
    return result
