"""`crl stability RUN --restarts R`: train the seeds a finished run lacks, then measure how far it can be believed.

The run itself is restart `kept` of its configuration (restart 0, seed `train.seed`, for a run trained once).
Missing restarts are trained exactly as `train.restarts = R` would have trained them: seeds `seed + k` on the
run's own validation split. They wait in `restarts/.pending/<k>/` and join `restarts/<k>/` just before the
confidence files are rewritten (crl.runs.confidence), so the run shown never changes and never reads half-done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crl.analysis.confidence import update_run_confidence
from crl.errors import RunError
from crl.runs.confidence import promote_pending, read_restarts, restart_indices, write_restart
from crl.runs.run import Run

MAX_RESTARTS = 20


def check_restarts(restarts: int) -> int:
    if not 2 <= restarts <= MAX_RESTARTS:
        raise RunError(f"--restarts must be between 2 and {MAX_RESTARTS} (got {restarts})")
    return int(restarts)


def kept_restart(run: Run) -> int:
    """Which restart the run shows (the one its training kept; 0 for a run trained once)."""
    return int(run.training_status.get("kept_restart", 0) or 0)


def restarts_to_train(run_dir: Path | str, restarts: int) -> list[int]:
    """The restart indices extend_restarts would train to bring the run to `restarts` (cheap: reads no file)."""
    run = Run(run_dir)
    have = restart_indices(run.path) | restart_indices(run.path, pending=True) | {kept_restart(run)}
    return [k for k in range(check_restarts(restarts)) if k not in have]


def extend_restarts(
    run_dir: Path | str,
    restarts: int,
    cohort_dir: Path | str | None = None,
    on_restart: Callable[[int, int], None] | None = None,
    callbacks: Sequence[Any] = (),
    device: str | None = None,
) -> tuple[pd.DataFrame, pd.Series] | None:
    """Train restarts until the run has `restarts` of them, then write and return its confidence tables.

    on_restart(k, restarts) is called before restart k trains (for progress lines). `callbacks` go to each
    restart's fit() (a job's heartbeat and stop requests); when one stops a fit, that restart is dropped and
    None is returned: the restarts finished before it are kept for the next call. `device` overrides the run's.
    """
    from crl.core.model import build_model
    from crl.data.load import load_cohort
    from crl.data.missing import policy_of_schema, training_cohort
    from crl.engine.encode import encode_cohort, latent_table
    from crl.engine.fit import fit
    from crl.engine.restarts import restart_config
    from crl.runs.checkpoint import check_compatible, load_run

    check_restarts(restarts)
    run = Run(run_dir)
    if not (run.has_latents and run.has_graph):
        raise RunError(f"{run.path} is not a finished run (no latents.csv or graph.csv); train it first")
    model, config, _ = load_run(run.path)
    if device:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, device=device))
    cohort_dir = Path(cohort_dir) if cohort_dir else run.cohort_path()
    if cohort_dir is None:
        raise RunError(f"{run.path}/config.json does not record its cohort; pass --cohort DIR")
    # The subjects the run was trained on: those lacking a modality only when its model infers them.
    cohort = training_cohort(load_cohort(cohort_dir, missing_policy="infer"), policy_of_schema(model.schema))
    check_compatible(model.schema, cohort)
    kept = kept_restart(run)
    have = {r.index for r in read_restarts(run.path)} | restart_indices(run.path, pending=True)
    if kept not in have:  # the run itself is its kept restart
        write_restart(
            run.path,
            kept,
            run.latents().reset_index(),
            model.latent_names,
            model.strengths(),
            {"restart": kept, "seed": config.train.seed + kept, "source": "the run itself"},
            pending=True,
        )
        have.add(kept)
    for index in range(restarts):
        if index in have:
            continue
        if on_restart is not None:
            on_restart(index, restarts)
        own = restart_config(config, index)
        extra = build_model(own, cohort.schema())
        result = fit(extra, cohort, own, callbacks=callbacks, split_seed=config.train.seed)
        if result.stopped_by_callback:
            return None
        latents = latent_table(extra, cohort, encode_cohort(extra, cohort, result.normaliser))
        summary = {
            "restart": index,
            "seed": own.train.seed,
            "best_validation_loss": result.best_validation_loss,
            "best_epoch": result.best_epoch,
            "seconds": round(result.seconds, 3),
        }
        write_restart(run.path, index, latents, extra.latent_names, extra.strengths(), summary, pending=True)
    promote_pending(run.path)
    return update_run_confidence(run.path, model, kept, run.threshold())
