"""One model's training steps, timed: what bench/step_speed.py and bench/flow_speed.py compare."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from crl.config import apply_overrides, default_config
from crl.data.cohort import Cohort
from crl.model import build_model
from crl.train import CohortTensors, _adam


def training_stepper(cohort: Cohort, overrides: list[str]) -> tuple[Callable[[int, bool], float], int]:
    """(run, batch size) for a CPU model with the default config plus `overrides`; `run(n_steps, frozen)`
    trains that many steps (frozen: the representation stands still, as after the warm-up) and returns
    samples/s."""
    config = apply_overrides(default_config(cohort.schema()), ["train.device=cpu", *overrides])
    torch.manual_seed(0)
    model = build_model(config, cohort.schema())
    normaliser = cohort.fit_normaliser(list(range(len(cohort))))
    tensors = CohortTensors(cohort, normaliser, torch.device("cpu"), model.names)
    optimizer = _adam(model, config)
    generator = torch.Generator().manual_seed(0)
    batch = config.train.batch_size

    def run(n_steps: int, frozen: bool) -> float:
        started = time.perf_counter()
        for _ in range(n_steps):
            idx = torch.randint(0, len(cohort), (batch,), generator=generator)
            record = model.loss(
                tensors.batch(idx), generator=generator, sparsity_weight=config.loss.sparsity,
                acyclicity_weight=config.loss.acyclicity, frozen_representation=frozen,
            )  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            record.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
            optimizer.step()
        return n_steps * batch / (time.perf_counter() - started)

    return run, batch
