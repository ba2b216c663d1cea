"""Restarts: train from several initial seeds on one validation split and keep the lowest validation loss.

Which optimum training reaches depends on the initial weights; the failing seeds are decided early in the
warm-up, and nothing later rescues them (bench/results/FINDINGS.md). Good and bad optima differ little in
validation loss, yet on paper-case1 the restart with the lowest one recovered the latents better than a single
run (bench/results/restarts.md). `train.restarts` = R trains with seeds `seed`, `seed + 1`, … `seed + R - 1`;
restart 0 is exactly the single run.

To fit()'s callbacks the restarts look like one long training (plus `on_restart_end(info)` after each finished
restart, with its model at its best weights, so the run can keep every restart's results): restart k's epochs and steps continue after the
planned length of the restarts before it, every info carries `restart` and `restarts`, `on_start` fires once
per process and `on_end` once at the end. The resumable training state also carries the finished restarts
(their summaries and the best one's weights), so a stopped job resumes inside the restart it stopped in.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from crl.config import Config
from crl.core.model import CRLModel
from crl.data.cohort import Cohort
from crl.engine.fit import FitResult, call_hooks, fit

STATE_KEY = "restarts"


def restart_config(config: Config, index: int) -> Config:
    """The configuration restart `index` trains with: its own seed, and no restarts of its own."""
    train = dataclasses.replace(config.train, seed=config.train.seed + index, restarts=1)
    return dataclasses.replace(config, train=train)


def overall_position(state: dict[str, Any]) -> tuple[int, int]:
    """A saved training state's (step, epoch) counted over all restarts, as metrics.jsonl and status.json count."""
    restarts = state.get(STATE_KEY) or {}
    return (
        int(state["step"]) + int(restarts.get("step_offset", 0)),
        int(state["epoch"]) + int(restarts.get("epoch_offset", 0)),
    )


def summary(index: int, config: Config, result: FitResult) -> dict[str, Any]:
    """What the run folder records about one restart."""
    return {
        "restart": index,
        "seed": config.train.seed,
        "best_validation_loss": result.best_validation_loss,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "seconds": round(result.seconds, 3),
    }


class _Continued:
    """fit()'s callbacks for restart `index`, shifted so that the restarts read as one training."""

    def __init__(self, callbacks: Sequence[Any], index: int, count: int, announce: bool, carry: Callable):
        self.callbacks, self.index, self.count = callbacks, index, count
        self.announce = announce  # forward on_start (the first restart this process trains)
        self.carry = carry  # -> the finished restarts and the best one's weights, for the training state
        self.epoch_offset = self.step_offset = 0

    def _shift(self, info: dict[str, Any]) -> dict[str, Any]:
        out = {**info, "restart": self.index, "restarts": self.count}
        out["epoch"] = info["epoch"] + self.epoch_offset
        out["step"] = info["step"] + self.step_offset
        if info.get("best_epoch", -1) >= 0:
            out["best_epoch"] = info["best_epoch"] + self.epoch_offset
        return out

    def on_start(self, info: dict[str, Any]) -> None:
        self.epoch_offset = self.index * info["epochs"]
        self.step_offset = self.index * info["total_steps"]
        if self.announce:
            call_hooks(
                self.callbacks,
                "on_start",
                {
                    **info,
                    "epochs": info["epochs"] * self.count,
                    "total_steps": info["total_steps"] * self.count,
                    "start_epoch": info.get("start_epoch", 0) + self.epoch_offset,
                    "restart": self.index,
                    "restarts": self.count,
                },
            )

    def on_step(self, info: dict[str, Any]) -> bool:
        return call_hooks(self.callbacks, "on_step", self._shift(info))

    def on_epoch(self, info: dict[str, Any]) -> bool:
        shifted = self._shift(info)
        inner = info.get("training_state")
        if inner is not None:
            offsets = {"epoch_offset": self.epoch_offset, "step_offset": self.step_offset}
            shifted["training_state"] = lambda: {
                **inner(),
                STATE_KEY: {"index": self.index, "count": self.count, **offsets, **self.carry()},
            }
        return call_hooks(self.callbacks, "on_epoch", shifted)


def fit_restarts(
    build: Callable[[Config], CRLModel],
    cohort: Cohort,
    config: Config,
    callbacks: Sequence[Any] = (),
    resume: dict[str, Any] | None = None,
) -> FitResult:
    """Train `config.train.restarts` models built by `build(config)`; return the one with the lowest best
    validation loss (its FitResult, with `restarts` listing every restart and `restart` the one kept).

    A restart stopped by a callback ends the whole training; the model returned is then the best of the
    finished restarts and the stopped one (whose best validation loss is still comparable).
    """
    count = config.train.restarts
    if count <= 1:
        return fit(build(config), cohort, config, callbacks=callbacks, resume=resume)
    started = time.perf_counter()
    carried = (resume or {}).get(STATE_KEY) or {}
    first = int(carried.get("index", 0))
    finished: list[dict[str, Any]] = list(carried.get("finished", []))
    best: dict[str, Any] | None = carried.get("best")  # {"summary": ..., "weights": ...} of the best so far
    results: dict[int, FitResult] = {}

    def carry() -> dict[str, Any]:
        return {"finished": finished, "best": best}

    for index in range(first, count):
        own = restart_config(config, index)
        adapter = _Continued(callbacks, index, count, announce=index == first, carry=carry)
        result = fit(
            build(own),
            cohort,
            own,
            callbacks=[adapter],
            resume=resume if index == first else None,
            split_seed=config.train.seed,
        )
        results[index] = result
        record = summary(index, own, result)
        if not result.stopped_by_callback:
            finished.append(record)
            # Each finished restart's own results, for the agreement between restarts (crl.runs.confidence).
            call_hooks(
                callbacks,
                "on_restart_end",
                {**record, "model": result.model, "normaliser": result.normaliser},
            )
        if best is None or result.best_validation_loss < best["summary"]["best_validation_loss"]:
            weights = {k: v.detach().cpu().clone() for k, v in result.model.state_dict().items()}
            best = {"summary": record, "weights": weights}
        if result.stopped_by_callback:
            break
    kept = int(best["summary"]["restart"])
    chosen = results.get(kept)
    if chosen is None:  # the best restart finished before this process resumed: only its weights were kept
        chosen = result
        chosen.model.load_state_dict(best["weights"])
        chosen.best_validation_loss = best["summary"]["best_validation_loss"]
        chosen.best_epoch = best["summary"]["best_epoch"]
        chosen.epochs_run = best["summary"]["epochs_run"]
        chosen.history = []  # its epochs were logged by the process that trained it
    chosen.model.eval()
    chosen.restarts, chosen.restart = finished, kept
    chosen.stopped_by_callback = result.stopped_by_callback
    chosen.seconds = time.perf_counter() - started
    call_hooks(
        callbacks,
        "on_end",
        {
            "best_epoch": chosen.best_epoch,
            "best_validation_loss": chosen.best_validation_loss,
            "epochs_run": chosen.epochs_run,
            "seconds": chosen.seconds,
            "restart": kept,
            "restarts": count,
        },
    )
    return chosen
