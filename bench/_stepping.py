"""One model's training steps, timed: what bench/step_speed.py, bench/flow_speed.py and bench/gpu.py compare."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from crl.config import apply_overrides, default_config
from crl.core.model import build_model
from crl.data.cohort import Cohort
from crl.engine.device import autocast_dtype, resolve_device
from crl.engine.optimiser import adam
from crl.engine.tensors import CohortTensors


def training_stepper(
    cohort: Cohort, overrides: list[str], device: str = "cpu", compile_mode: str | None = None
) -> tuple[Callable[[int, bool], float], int]:
    """(run, batch size) for a model with the default config plus `overrides` on `device`, in the precision
    `crl train` would use there; `run(n_steps, frozen)` trains that many steps (frozen: the representation
    stands still, as after the warm-up) and returns samples/s. compile_mode: the loss is compiled with
    `torch.compile(mode=compile_mode)` ("default", "reduce-overhead" for CUDA graphs, ...); None: as training
    runs today."""
    config = apply_overrides(default_config(cohort.schema()), [f"train.device={device}", *overrides])
    where = resolve_device(config.train.device)
    dtype = autocast_dtype(where, config.train.mixed_precision)
    torch.manual_seed(0)
    model = build_model(config, cohort.schema()).to(where)
    normaliser = cohort.fit_normaliser(list(range(len(cohort))))
    tensors = CohortTensors(cohort, normaliser, where, model.names)
    optimizer = adam(model, config)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    indices = torch.Generator().manual_seed(0)
    samples = torch.Generator(device=where).manual_seed(1)
    batch = config.train.batch_size
    loss = model.loss if compile_mode is None else torch.compile(model.loss, mode=compile_mode)

    def run(n_steps: int, frozen: bool) -> float:
        if where.type == "cuda":
            torch.cuda.synchronize(where)
        started = time.perf_counter()
        for _ in range(n_steps):
            idx = torch.randint(0, len(cohort), (batch,), generator=indices)
            with torch.autocast(where.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                record = loss(
                    tensors.batch(idx), generator=samples, sparsity_weight=config.loss.sparsity,
                    acyclicity_weight=config.loss.acyclicity, frozen_representation=frozen,
                )  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(record.total).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
            scaler.step(optimizer)
            scaler.update()
        if where.type == "cuda":
            torch.cuda.synchronize(where)
        return n_steps * batch / (time.perf_counter() - started)

    return run, batch
