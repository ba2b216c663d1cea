"""`crl stability RUN --restarts R`: train the seeds a finished run lacks, then measure how far it can be believed.

The run itself is restart `kept` of its configuration (restart 0, seed `train.seed`, for a run trained once).
Missing restarts are trained exactly as `train.restarts = R` would have trained them: seeds `seed + k` on the
run's own validation split, and kept in `restarts/<k>/` beside the run, which stays the one shown.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from crl.analysis.confidence import update_run_confidence
from crl.errors import RunError
from crl.runs.confidence import read_restarts, write_restart
from crl.runs.run import Run

MAX_RESTARTS = 20


def extend_restarts(
    run_dir: Path | str,
    restarts: int,
    cohort_dir: Path | str | None = None,
    on_restart: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Train restarts until the run has `restarts` of them, then write and return its confidence tables.

    on_restart(k, restarts) is called before restart k trains (for progress lines).
    """
    from crl.core.model import build_model
    from crl.data.load import load_cohort
    from crl.engine.encode import encode_cohort, latent_table
    from crl.engine.fit import fit
    from crl.engine.restarts import restart_config
    from crl.runs.checkpoint import check_compatible, load_run

    if not 2 <= restarts <= MAX_RESTARTS:
        raise RunError(f"--restarts must be between 2 and {MAX_RESTARTS} (got {restarts})")
    run = Run(run_dir)
    if not (run.has_latents and run.has_graph):
        raise RunError(f"{run.path} is not a finished run (no latents.csv or graph.csv); train it first")
    model, config, _ = load_run(run.path)
    cohort_dir = Path(cohort_dir) if cohort_dir else run.cohort_path()
    if cohort_dir is None:
        raise RunError(f"{run.path}/config.json does not record its cohort; pass --cohort DIR")
    cohort = load_cohort(cohort_dir)
    check_compatible(model.schema, cohort)
    kept = int(run.status.get("kept_restart", 0) or 0)
    have = {r.index for r in read_restarts(run.path)}
    if kept not in have:  # the run itself is its kept restart
        write_restart(
            run.path,
            kept,
            run.latents().reset_index(),
            model.latent_names,
            model.strengths(),
            {"restart": kept, "seed": config.train.seed + kept, "source": "the run itself"},
        )
        have.add(kept)
    for index in range(restarts):
        if index in have:
            continue
        if on_restart is not None:
            on_restart(index, restarts)
        own = restart_config(config, index)
        extra = build_model(own, cohort.schema())
        result = fit(extra, cohort, own, split_seed=config.train.seed)
        latents = latent_table(extra, cohort, encode_cohort(extra, cohort, result.normaliser))
        summary = {
            "restart": index,
            "seed": own.train.seed,
            "best_validation_loss": result.best_validation_loss,
            "best_epoch": result.best_epoch,
        }
        write_restart(run.path, index, latents, extra.latent_names, extra.strengths(), summary)
    return update_run_confidence(run.path, model, kept, run.threshold())
