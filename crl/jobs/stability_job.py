"""Measuring a finished run's confidence as a background job: train the restarts it lacks, then its agreement.

This is the caller's side (the dashboard, `crl stability --background`). The job trains what
`crl stability RUN --restarts R` would (crl.analysis.more_restarts) in a detached `python -m crl.jobs RUN
--stability` process (crl.jobs.stability_worker), like any job: it waits for a slot in the same queue, beats a
heartbeat, stops on request and records a crash. It is a side job (crl.jobs.job_record): the model is left as it
was, the training's figures wait under "training" in status.json, and the `stability` record says how far it
is (`restarts`: R in all, `to_train`, `trained`, `restart`: the one training now, `state`, `seconds`, `error`).
The run stays readable and shown throughout: new restarts wait in restarts/.pending/ and the confidence files
are replaced atomically at the end. A stopped or killed job keeps the restarts it finished; launching it again
trains only the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from crl.analysis.more_restarts import MAX_RESTARTS, check_restarts, kept_restart, restarts_to_train
from crl.errors import RunError
from crl.jobs.control import _job_from_run, _record_launcher, _spawn, job_status
from crl.jobs.job_record import requeue
from crl.jobs.queue import queue_dir
from crl.jobs.stability_worker import STABILITY_JOB
from crl.jobs.worker import run_job
from crl.runs.confidence import restart_indices
from crl.runs.files import EDGE_CONFIDENCE_FILE, JOB_FILE, STOP_FILE
from crl.runs.run import Run
from crl.runs.storage import storage_error

DEFAULT_RESTARTS = 4


class StabilityJobRunning(RunError):
    """A confidence measurement is already queued or running on this run: a second one is refused."""


def restarts_of(run_dir: Path | str) -> int:
    """How many restarts the run has now, itself included (1 for a run trained once)."""
    run = Run(run_dir)
    return len(restart_indices(run.path) | restart_indices(run.path, pending=True) | {kept_restart(run)})


def seconds_per_restart(run_dir: Path | str) -> float | None:
    """How long one restart of this run took to train, from its status.json (None when not recorded)."""
    status = Run(run_dir).training_status
    each = [r.get("seconds") for r in status.get("restarts") or [] if isinstance(r, dict)]
    each = [float(s) for s in each if isinstance(s, (int, float)) and s > 0]
    if each:
        return sum(each) / len(each)
    progress = status.get("progress") if isinstance(status.get("progress"), dict) else {}
    total = status.get("seconds", progress.get("elapsed_seconds"))
    return float(total) if isinstance(total, (int, float)) and total > 0 else None


def start_stability_job(
    run_dir: Path | str,
    restarts: int = DEFAULT_RESTARTS,
    cohort_dir: Path | str | None = None,
    background: bool = True,
    threads: int | None = None,
) -> Path:
    """Train the restarts a finished run lacks until it has `restarts` (2..MAX_RESTARTS, itself included), then
    write its edge_confidence.csv and latent_stability.csv; in the background (default) this returns at once.

    Refused (StabilityJobRunning) while such a job is already queued or running on the run, and (RunError)
    while another job is, for a run that has not finished training, and when there is nothing to do."""
    run_dir = Path(run_dir)
    restarts = check_restarts(int(restarts))
    with _launch_lock(run_dir):
        _check_launch(run_dir, restarts, cohort_dir)
        try:
            if not (run_dir / JOB_FILE).exists():
                _job_from_run(run_dir)
            (run_dir / STOP_FILE).unlink(missing_ok=True)
            record = {
                "restarts": restarts,
                "to_train": len(restarts_to_train(run_dir, restarts)),
                "trained": 0,
                "state": "queued",
                "cohort": str(Path(cohort_dir).resolve()) if cohort_dir else None,
            }
            requeue(run_dir, STABILITY_JOB, **{STABILITY_JOB: record})
        except OSError as error:
            raise storage_error(
                error,
                f"the confidence of run '{run_dir.name}' cannot be measured in place: make {run_dir} "
                "writable, or copy the run to a folder you can write and measure the copy",
            ) from None
        if background:
            _record_launcher(run_dir, _spawn(run_dir, ["--stability"], threads=threads))
    if not background:
        if run_job(run_dir, queue=False, foreground=True, stability=True) != 0:
            record = job_status(run_dir).get(STABILITY_JOB) or {}
            raise RunError(record.get("error") or f"measuring the confidence of {run_dir} failed")
    return run_dir


def refuse_if_busy(run_dir: Path | str) -> None:
    """StabilityJobRunning while a confidence measurement is queued or running on the run, RunError while
    another job is: two processes would train the same restarts (`crl stability` checks this too)."""
    run_dir = Path(run_dir)
    status = job_status(run_dir)
    if status["alive"]:
        if status.get("job") == STABILITY_JOB:
            record = status.get(STABILITY_JOB) or {}
            raise StabilityJobRunning(
                f"run '{run_dir.name}' is already measuring its confidence ({record.get('restarts', '?')} "
                "restarts); wait for it to finish, or stop it first"
            )
        raise RunError(
            f"run '{run_dir.name}' is {status['state']}; wait for its job to finish or stop it first"
        )


def _check_launch(run_dir: Path, restarts: int, cohort_dir: Path | str | None) -> None:
    refuse_if_busy(run_dir)
    run = Run(run_dir)
    if not (run.has_graph and run.has_latents):
        raise RunError(f"{run_dir} is not a finished run (no latents.csv or graph.csv); train it first")
    state = run.training_status.get("state", "done")
    if state != "done":
        raise RunError(
            f"run '{run_dir.name}' has not finished training (it is {state}); resume it until it is done, then "
            "measure its confidence"
        )
    cohort = Path(cohort_dir) if cohort_dir else run.cohort_path()
    if cohort is None or not cohort.is_dir():
        where = (
            f"the cohort folder {cohort} is not there" if cohort else "its config.json names no cohort folder"
        )
        raise RunError(
            f"run '{run_dir.name}' cannot be trained again: {where}; measure it from a terminal with "
            f"`crl stability {run_dir} --cohort DIR`, giving the folder of the cohort it was trained on"
        )
    pending = restart_indices(run_dir, pending=True)
    if (
        not restarts_to_train(run_dir, restarts)
        and not pending
        and (run_dir / EDGE_CONFIDENCE_FILE).is_file()
    ):
        have = restarts_of(run_dir)
        more = (
            f"ask for more than {have} (at most {MAX_RESTARTS})" if have < MAX_RESTARTS else "it has the most"
        )
        raise RunError(f"run '{run_dir.name}' already has its confidence across {have} restarts; {more}")


@contextlib.contextmanager
def _launch_lock(run_dir: Path) -> Iterator[None]:
    """One launch at a time per run (two dashboard tabs clicking at once): from the check until the new job's
    pid is recorded, when the run reads as queued and the second launch is refused."""
    key = hashlib.sha1(str(run_dir.resolve()).encode()).hexdigest()[:16]
    fd = os.open(queue_dir() / f"launch-{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
