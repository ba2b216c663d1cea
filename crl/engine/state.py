"""One training's state: what fit() sets up before the first step, carries from step to step, and saves in a
resumable training state (crl.runs.checkpoint) or restores from one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from crl.config import Config
from crl.core.model import CRLModel
from crl.core.nn.pca import FIT_SUBJECTS, fit_bases, unfitted_modalities
from crl.data.cohort import Cohort, Normaliser
from crl.engine.device import autocast_dtype, resolve_device
from crl.engine.early_stopping import EarlyStopping
from crl.engine.optimiser import adam
from crl.engine.schedules import StepPlan, lr_factors, plan_steps
from crl.engine.tensors import CohortTensors, check_finite
from crl.engine.warmup import WarmupEvents
from crl.errors import TrainingError


@dataclass
class Training:
    """Everything one fit() carries from step to step."""

    model: CRLModel
    config: Config
    device: torch.device
    dtype: torch.dtype | None  # autocast precision; None for float32
    normaliser: Normaliser
    tensors: CohortTensors
    train_indices: np.ndarray
    validation_indices: np.ndarray
    plan: StepPlan
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None
    scaler: torch.amp.GradScaler
    order_generator: torch.Generator  # shuffles the training subjects each epoch
    sample_generator: torch.Generator  # the model's posterior samples
    train_index: torch.Tensor
    stopping: EarlyStopping
    history: list[dict[str, Any]] = field(default_factory=list)  # one dict per epoch
    step: int = 0
    start_epoch: int = 0
    epoch: int = -1
    warmup: WarmupEvents | None = None

    def start_info(self) -> dict[str, Any]:
        """What the callbacks' `on_start` receives."""
        return {
            "device": str(self.device),
            "epochs": self.plan.epochs,
            "total_steps": self.plan.total_steps,
            "steps_per_epoch": self.plan.steps_per_epoch,
            "n_train": len(self.train_indices),
            "n_validation": len(self.validation_indices),
            "start_epoch": self.start_epoch,
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to resume after the current epoch (fit's `resume`; crl.runs.checkpoint saves it)."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "order_generator": self.order_generator.get_state(),
            "sample_generator": self.sample_generator.get_state().cpu(),
            "step": self.step,
            "epoch": self.epoch + 1,
            "bad_epochs": self.stopping.bad_epochs,
            "best_epoch": self.stopping.best_epoch,
            "best_validation_loss": self.stopping.best_validation_loss,
            "best_model": self.stopping.best_state,
            "normaliser": self.normaliser.to_dict(),
            "history": self.history,
        }

    def restore(self, resume: dict[str, Any]) -> None:
        """Continue from a `snapshot()`: weights, optimiser, schedule, generators, position and best epoch."""
        saved_groups = [len(g["params"]) for g in resume["optimizer"]["param_groups"]]
        if set(resume["model"]) != set(self.model.state_dict()) or saved_groups != [
            len(g["params"]) for g in self.optimizer.param_groups
        ]:
            raise TrainingError(
                "this run's checkpoint was written by an older version of crl whose model is laid out "
                "differently, so it cannot be resumed; start it again, or refit it at a sparsity weight "
                "(crl runs refit), which starts from its weights"
            )
        self.model.load_state_dict(resume["model"])
        self.optimizer.load_state_dict(resume["optimizer"])
        self.scheduler.load_state_dict(resume["scheduler"])
        self.order_generator.set_state(resume["order_generator"])
        if self.device.type == "cpu":
            self.sample_generator.set_state(resume["sample_generator"])
        self.step, self.start_epoch = int(resume["step"]), int(resume["epoch"])
        self.stopping.bad_epochs = int(resume["bad_epochs"])
        self.stopping.best_epoch = int(resume["best_epoch"])
        self.stopping.best_validation_loss = float(resume["best_validation_loss"])
        self.history = list(resume.get("history", []))
        self.stopping.best_state = resume.get("best_model")
        self.epoch = self.start_epoch - 1


def basis_sample(
    cohort: Cohort, tensors: CohortTensors, train_idx: np.ndarray, names: list[str]
) -> dict[str, torch.Tensor]:
    """Up to FIT_SUBJECTS training subjects of each modality in `names`, normalised, for the encoders that fit a
    basis to the data (crl.core.nn.pca); subjects lacking a modality are left out (their rows are fillers)."""
    rows = np.sort(train_idx)
    sample = {}
    for name in names:
        chosen = rows[cohort.presence(name)[rows]][:FIT_SUBJECTS]
        sample[name] = tensors.batch(torch.as_tensor(chosen, dtype=torch.long, device="cpu"))[name]
    return sample


def start_training(
    model: CRLModel,
    cohort: Cohort,
    config: Config,
    resume: dict[str, Any] | None,
    split_seed: int | None,
) -> Training:
    """Split the cohort, fit (or restore) the normaliser, move model and data to the device, plan the steps and
    build the optimiser, schedules and generators; then continue from `resume` if given."""
    t = config.train
    device = resolve_device(t.device)
    dtype = autocast_dtype(device, t.mixed_precision)

    check_finite(cohort, model.names)
    train_idx, val_idx = cohort.split(t.seed if split_seed is None else split_seed, t.validation_fraction)
    if len(train_idx) == 0:
        raise TrainingError("the cohort is too small to train on: no subjects left for training")
    normaliser = (
        cohort.fit_normaliser(train_idx) if resume is None else Normaliser.from_dict(resume["normaliser"])
    )
    model.to(device)
    tensors = CohortTensors(cohort, normaliser, device, model.names)
    unfitted = unfitted_modalities(model)
    if resume is None and unfitted:  # a resumed run's bases come back with its weights
        fit_bases(model, basis_sample(cohort, tensors, train_idx, unfitted))

    plan = plan_steps(config, len(train_idx))
    optimizer = adam(model, config)
    training = Training(
        model=model,
        config=config,
        device=device,
        dtype=dtype,
        normaliser=normaliser,
        tensors=tensors,
        train_indices=train_idx,
        validation_indices=val_idx,
        plan=plan,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factors(config, plan.total_steps)),
        plateau=(
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=0.5, patience=max(1, t.patience // 3)
            )
            if t.schedule == "plateau"
            else None
        ),
        scaler=torch.amp.GradScaler("cuda", enabled=dtype == torch.float16),
        order_generator=torch.Generator().manual_seed(t.seed),
        sample_generator=torch.Generator(device=device).manual_seed(t.seed + 1),
        train_index=torch.as_tensor(train_idx, dtype=torch.long, device="cpu"),
        stopping=EarlyStopping(plan.schedule_steps, plan.min_epochs, t.patience),
    )
    if resume is not None:
        training.restore(resume)
    return training
