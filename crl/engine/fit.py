"""Training: fit() with mini-batch Adam, validation-based early stopping, LR schedule, callbacks; the CLI entry."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from crl.config import Config
from crl.core.graph_search import adopt_order, search_order
from crl.core.model import CRLModel, LossRecord
from crl.core.nn import normaliser_tensors, to_model_layout
from crl.core.realign import realign_blocks
from crl.data.cohort import Cohort, Normaliser
from crl.engine import distributed
from crl.engine.device import autocast_dtype, resolve_device
from crl.errors import TrainingError

# Cohorts whose arrays exceed this stay in host memory and are copied to the GPU batch by batch.
DEVICE_RESIDENT_BYTES = 2 * 1024**3


def check_finite(cohort: Cohort, names: Sequence[str]) -> None:
    """TrainingError naming the modality and subjects when any value is missing or infinite."""
    for name in names:
        modality = cohort.modalities[name]
        if modality.kind == "image" or np.issubdtype(modality.data.dtype, np.integer):
            continue
        bad = ~np.isfinite(modality.data.reshape(len(modality.data), -1)).all(axis=1)
        if bad.any():
            first = ", ".join(map(str, cohort.subject_ids[np.flatnonzero(bad)[:3]]))
            raise TrainingError(
                f"modality '{name}' has missing or non-finite values in {int(bad.sum())} of {len(bad)} "
                f"subjects (e.g. {first}); impute or drop them (crl validate lists them) and train again"
            )


class CohortTensors:
    """A cohort's modalities as tensors ready for batching: tabular and time series pre-normalised to float32;
    images kept uint8 and normalised per batch."""

    def __init__(self, cohort: Cohort, normaliser: Normaliser, device: torch.device, names: Sequence[str]):
        check_finite(cohort, names)
        self.device = device
        self.kinds = {name: cohort.modalities[name].kind for name in names}
        total = sum(cohort.modalities[n].data.size * (1 if self.kinds[n] == "image" else 4) for n in names)
        self.storage = (
            device if (device.type == "cpu" or total <= DEVICE_RESIDENT_BYTES) else torch.device("cpu")
        )
        self.data: dict[str, torch.Tensor] = {}
        self.image_norm: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name in names:
            modality = cohort.modalities[name]
            if modality.kind == "image":
                self.data[name] = torch.from_numpy(np.ascontiguousarray(modality.data)).to(self.storage)
                centre, scale = normaliser_tensors("image", normaliser.centre[name], normaliser.scale[name])
                self.image_norm[name] = (centre.to(device), scale.to(device))
            else:
                x = normaliser.apply(name, modality.data)
                self.data[name] = (
                    to_model_layout(modality.kind, torch.from_numpy(x)).contiguous().to(self.storage)
                )

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """Model-layout, normalised float32 tensors on the training device for these subject rows."""
        indices = indices.to(self.storage)
        out = {}
        for name, tensor in self.data.items():
            x = tensor.index_select(0, indices)
            if self.storage != self.device:
                x = x.to(self.device, non_blocking=True)
            if self.kinds[name] == "image":
                centre, scale = self.image_norm[name]
                x = (to_model_layout("image", x).float() - centre) / scale
            out[name] = x
        return out


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


def _lr_lambda(config: Config, total_steps: int) -> Callable[[int], float]:
    t = config.train

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / max(t.warmup_steps, 1))
        if t.schedule != "cosine":
            return warm
        progress = min(1.0, step / max(total_steps, 1))
        return warm * (t.min_lr_ratio + (1.0 - t.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))

    return factor


def _lr_lambdas(config: Config, total_steps: int) -> list[Callable[[int], float]]:
    """Per optimiser group (see `_adam`). The representation's factor (encoders, decoders, rotations) is
    graph.representation_lr_after_warmup from the end of the warm-up until the graph schedule is complete, and
    graph.networks_lr_after_schedule after it; the prior and the graph follow the plain schedule. The baselines
    have no graph to learn, so their representation follows the plain schedule throughout."""
    base = _lr_lambda(config, total_steps)
    if config.method != "ours":
        return [base, base, base]
    warm = config.loss.graph_warmup
    done = warm + config.loss.acyclicity_warmup
    during, after = config.graph.representation_lr_after_warmup, config.graph.networks_lr_after_schedule

    def representation(step: int) -> float:
        progress = step / max(total_steps, 1)
        return base(step) * (after if progress >= done else during if progress >= warm else 1.0)

    return [representation, base, base]


def _network_parameters(model: CRLModel) -> list[torch.nn.Parameter]:
    """The representation's parameters: encoders, decoders (the beta-VAE's joint networks included) and the
    per-modality rotations, which turn the latents as much as the encoders do."""
    return [
        p
        for name, p in model.named_parameters()
        if name.split(".")[0].startswith(("encoders", "decoders", "joint_", "rotations"))
    ]


def _adam(model: CRLModel, config: Config) -> torch.optim.Optimizer:
    """Adam with three groups: the representation (encoders, decoders, rotations); the prior; the graph's edge
    parameters (own learning rate, no weight decay). The group order is what `_lr_lambdas` expects.

    Fused where this torch build has it (about 20 % faster per step on small models), plain otherwise.
    """
    t = config.train
    graph_params = list(model.graph.parameters())
    networks = _network_parameters(model)
    taken = {id(p) for p in graph_params} | {id(p) for p in networks}
    groups = [
        {"params": networks, "weight_decay": t.weight_decay},
        {"params": [p for p in model.parameters() if id(p) not in taken], "weight_decay": t.weight_decay},
        {"params": graph_params, "lr": t.lr * config.graph.lr_multiplier, "weight_decay": 0.0},
    ]
    try:
        return torch.optim.Adam(groups, lr=t.lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(groups, lr=t.lr)


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


# Subjects whose latents the order search scores (bounds its cost on large cohorts).
SEARCH_SUBJECTS = 2048


def _posterior_means(
    model: CRLModel, tensors: CohortTensors, index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means (z, eta) of the subjects `index`, in evaluation mode, float32 on the model's device."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        means = [model.posterior(tensors.batch(chunk)) for chunk in torch.split(index, 256)]
    model.train(was_training)
    return torch.cat([m[0].float() for m in means]), torch.cat([m[2].float() for m in means])


def _search_graph(
    model: CRLModel,
    tensors: CohortTensors,
    train_index: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> None:
    """At the end of the warm-up, point the graph at the sparsest causal order of the current latents
    (crl.core.graph_search); the graph's optimiser state is reset so old momentum does not pull it back."""
    loss = model.config.loss
    z, _ = _posterior_means(model, tensors, train_index[:SEARCH_SUBJECTS])
    order, kept, _ = search_order(
        model.prior, model.graph, z, cross_cost=loss.sparsity / loss.likelihood, generator=generator
    )
    adopt_order(model.graph, order, kept)
    for parameter in model.graph.parameters():
        optimizer.state.pop(parameter, None)


# Subjects whose encodings a block realignment regresses on each other.
REALIGN_SUBJECTS = 4096


def realign_steps(config: Config, total_steps: int) -> list[int]:
    """The steps before which crl.core.realign turns the blocks: `prior.realign` of them, evenly inside the warm-up.
    None without a warm-up (a sparsity-path level refits the graph of latents that must stay as they are)."""
    count = config.prior.realign if config.method == "ours" and config.prior.rotation else 0
    warm = config.loss.graph_warmup * total_steps
    return sorted({s for i in range(count) if 0 < (s := math.ceil(warm * (i + 1) / (count + 1))) < warm})


def _realign(
    model: CRLModel,
    tensors: CohortTensors,
    train_index: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> None:
    """Turn each modality's z towards what the other modalities predict (crl.core.realign); the rotations'
    optimiser state is reset so old momentum does not turn them back."""
    z, eta = _posterior_means(model, tensors, train_index[:REALIGN_SUBJECTS])
    realign_blocks(model, z.cpu(), eta.cpu(), generator)
    context = distributed.current()
    for parameter in model.rotations.parameters():
        optimizer.state.pop(parameter, None)
        if context is not None and context.world_size > 1:
            # Ranks encode on different devices: rank 0's turn, to the last bit, keeps every rank's weights equal.
            torch.distributed.broadcast(parameter.data, src=0)


def _nonfinite_error(record: LossRecord, step: int, epoch: int) -> TrainingError:
    bad = [name for name, value in record.as_floats().items() if not math.isfinite(value)]
    terms = ", ".join(bad) if bad else "total"
    return TrainingError(
        f"training diverged at step {step} (epoch {epoch}): the loss term(s) {terms} became NaN or infinite. "
        "Try a smaller learning rate (--set train.lr=5e-4), a tighter gradient clip (--set train.grad_clip=1), "
        "or check the cohort for extreme values"
    )


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


def call_hooks(callbacks: Sequence[Any], hook: str, info: dict[str, Any]) -> bool:
    """Run `hook` on every callback that has it; True when any asks training to stop."""
    stop = False
    for callback in callbacks:
        fn = getattr(callback, hook, None)
        if fn is not None and fn(info):
            stop = True
    return stop


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
    t = config.train
    device = resolve_device(t.device)
    dtype = autocast_dtype(device, t.mixed_precision)
    started = time.perf_counter()

    check_finite(cohort, model.names)
    train_idx, val_idx = cohort.split(t.seed if split_seed is None else split_seed, t.validation_fraction)
    if len(train_idx) == 0:
        raise TrainingError("the cohort is too small to train on: no subjects left for training")
    normaliser = (
        cohort.fit_normaliser(train_idx) if resume is None else Normaliser.from_dict(resume["normaliser"])
    )
    model.to(device)
    tensors = CohortTensors(cohort, normaliser, device, model.names)

    batch_size = min(t.batch_size, len(train_idx))
    steps_per_epoch = max(1, len(train_idx) // batch_size)  # drop the ragged tail: equal-sized steps
    epochs = max(t.epochs, math.ceil(t.min_steps / steps_per_epoch))
    total_steps = epochs * steps_per_epoch
    # Early stopping waits until the graph schedule is complete, and only epochs after it compete for the best
    # weights: earlier ones can score well on a graph that is still dense (the baselines have no graph).
    schedule_end = config.loss.graph_warmup + config.loss.acyclicity_warmup
    schedule_steps = math.ceil(schedule_end * total_steps) if config.method == "ours" else 0
    min_epochs = max(t.min_epochs, math.ceil(schedule_end * epochs))
    optimizer = _adam(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambdas(config, total_steps))
    plateau = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(1, t.patience // 3))
        if t.schedule == "plateau"
        else None
    )
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    order_generator = torch.Generator().manual_seed(t.seed)
    sample_generator = torch.Generator(device=device).manual_seed(t.seed + 1)
    train_index = torch.as_tensor(train_idx, dtype=torch.long, device="cpu")

    result = FitResult(model, normaliser, train_idx, val_idx, device=str(device))
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs = 0
    step = 0
    start_epoch = 0
    if resume is not None:
        saved_groups = [len(g["params"]) for g in resume["optimizer"]["param_groups"]]
        if set(resume["model"]) != set(model.state_dict()) or saved_groups != [
            len(g["params"]) for g in optimizer.param_groups
        ]:
            raise TrainingError(
                "this run's checkpoint was written by an older version of crl whose model is laid out "
                "differently, so it cannot be resumed; start it again, or refit it at a sparsity weight "
                "(crl runs refit), which starts from its weights"
            )
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        order_generator.set_state(resume["order_generator"])
        if device.type == "cpu":
            sample_generator.set_state(resume["sample_generator"])
        step, start_epoch = int(resume["step"]), int(resume["epoch"])
        bad_epochs = int(resume["bad_epochs"])
        result.best_epoch = int(resume["best_epoch"])
        result.best_validation_loss = float(resume["best_validation_loss"])
        result.history = list(resume.get("history", []))
        best_state = resume.get("best_model")

    def training_state() -> dict[str, Any]:
        return {
            "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "order_generator": order_generator.get_state(),
            "sample_generator": sample_generator.get_state().cpu(),
            "step": step,
            "epoch": epoch + 1,
            "bad_epochs": bad_epochs,
            "best_epoch": result.best_epoch,
            "best_validation_loss": result.best_validation_loss,
            "best_model": best_state,
            "normaliser": normaliser.to_dict(),
            "history": result.history,
        }

    call_hooks(
        callbacks,
        "on_start",
        {
            "device": str(device),
            "epochs": epochs,
            "total_steps": total_steps,
            "steps_per_epoch": steps_per_epoch,
            "n_train": len(train_idx),
            "n_validation": len(val_idx),
            "start_epoch": start_epoch,
        },
    )
    want_steps = any(getattr(c, "on_step", None) is not None for c in callbacks)
    # The order search runs just before the first step at or after the warm-up's end; a state saved at that
    # step (a resume exactly at the boundary) has not run it yet.
    search_step = math.ceil(config.loss.graph_warmup * total_steps)
    search_pending = (
        config.graph.search_order
        and model.method == "ours"
        and model.graph.by_order
        and bool(model.graph.free_mask.any())
        and config.loss.likelihood > 0
        and step <= search_step
    )
    search_generator = torch.Generator().manual_seed(t.seed + 3)
    # Realignments pending are those at or after the current step (a state saved at one has not run it).
    pending_realign = [s for s in realign_steps(config, total_steps) if s >= step]
    model.train()
    epoch = start_epoch - 1
    stop = False
    for epoch in range(start_epoch, epochs):
        epoch_started = time.perf_counter()
        order = torch.randperm(len(train_index), generator=order_generator, device="cpu")
        sums: dict[str, torch.Tensor] = {}
        for b in range(steps_per_epoch):
            idx = train_index[order[b * batch_size : (b + 1) * batch_size]]
            batch = tensors.batch(idx)
            while pending_realign and step >= pending_realign[0]:
                pending_realign.pop(0)
                _realign(
                    model, tensors, train_index, optimizer, torch.Generator().manual_seed(t.seed + 4 + step)
                )
            if search_pending and step >= search_step:
                _search_graph(model, tensors, train_index, optimizer, search_generator)
                search_pending = False
            warmup, s_weight, a_weight = schedule(config, step, total_steps)
            with torch.autocast(
                device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                record = model.loss(
                    batch,
                    generator=sample_generator,
                    sparsity_weight=s_weight,
                    acyclicity_weight=a_weight,
                    warmup=warmup,
                    frozen_representation=model.method == "ours" and optimizer.param_groups[0]["lr"] == 0.0,
                )
            if not torch.isfinite(record.total).item():
                raise _nonfinite_error(record, step, epoch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(record.total).backward()
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            if not torch.isfinite(grad_norm).item() and dtype != torch.float16:
                raise TrainingError(
                    f"gradients became NaN or infinite at step {step} (epoch {epoch}) although the loss was finite; "
                    "try a smaller learning rate (--set train.lr=5e-4) or --set train.mixed_precision=off"
                )
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            for name, value in record.terms().items():
                sums[name] = sums.get(name, 0.0) + value.detach().float()
            if want_steps:
                info = {
                    "step": step,
                    "epoch": epoch,
                    "lr": optimizer.param_groups[1]["lr"],
                    "losses": record.as_floats(),
                    "samples_per_second": (b + 1)
                    * batch_size
                    / max(time.perf_counter() - epoch_started, 1e-9),
                }
                if call_hooks(callbacks, "on_step", info):
                    stop = True
                    result.stopped_by_callback = True
                    break

        train_terms = dict(
            zip(sums.keys(), torch.stack(list(sums.values())).div(max(b + 1, 1)).tolist(), strict=False)
        )
        seconds = time.perf_counter() - epoch_started
        if len(val_idx):
            validation = evaluate(model, tensors, val_idx, seed=t.seed + 2, dtype=dtype)
        else:
            validation = dict(train_terms)
        criterion = validation["total"]
        if not math.isfinite(criterion):
            raise TrainingError(
                f"the validation loss became NaN or infinite at epoch {epoch}; try a smaller learning rate "
                "(--set train.lr=5e-4) or check the validation subjects for extreme values"
            )
        if plateau is not None:
            plateau.step(criterion)
        improved = not math.isfinite(result.best_validation_loss) or (
            criterion < result.best_validation_loss - 1e-4 * abs(result.best_validation_loss)
        )
        if step < schedule_steps:
            pass  # the graph is still being shaped: its validation loss does not judge the final model
        elif improved:
            result.best_validation_loss = criterion
            result.best_epoch = epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            bad_epochs = 0
        else:
            bad_epochs += 1
        entry = {
            "epoch": epoch,
            "step": step,
            "lr": optimizer.param_groups[1]["lr"],
            "seconds": seconds,
            "samples_per_second": (b + 1) * batch_size / max(seconds, 1e-9),
            "train": train_terms,
            "validation": validation,
            "validation_loss": criterion,
            "best_epoch": result.best_epoch,
        }
        result.history.append(entry)
        result.epochs_run = epoch + 1
        result.steps = step
        if call_hooks(callbacks, "on_epoch", {**entry, "model": model, "training_state": training_state}):
            stop = True
            result.stopped_by_callback = True
        if stop:
            break
        if epoch + 1 >= min_epochs and bad_epochs >= t.patience:
            result.stopped_early = True
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
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


def encode_cohort(
    model: CRLModel,
    cohort: Cohort,
    normaliser: Normaliser,
    batch_size: int = 2048,
    device: torch.device | str | None = None,
) -> dict[str, np.ndarray]:
    """Posterior means for every subject: modality -> `(n_subjects, latents)` float32."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    tensors = CohortTensors(cohort, normaliser, device, model.names)
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in model.names}
    with torch.no_grad():
        for start in range(0, len(cohort), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(cohort)), device="cpu")
            for name, z in model.encode(tensors.batch(idx)).items():
                parts[name].append(z.float().cpu().numpy())
    model.train(was_training)
    return {
        name: np.concatenate(chunks, 0) if chunks else np.zeros((0, model.latent_sizes[name]), np.float32)
        for name, chunks in parts.items()
    }


def latent_table(model: CRLModel, cohort: Cohort, latents: dict[str, np.ndarray]):
    """A DataFrame `subject_id` + `<modality>.z<k>` columns (the run folder's latents.csv)."""
    import pandas as pd

    columns: dict[str, Any] = {"subject_id": [str(s) for s in cohort.subject_ids]}
    for name in model.names:
        for k in range(model.latent_sizes[name]):
            columns[f"{name}.z{k}"] = latents[name][:, k]
    return pd.DataFrame(columns)
