"""What status.json says about a run's current job, and what a new job resets.

status.json describes the run and, while one runs, its job. When a new job is queued on the run (a resume, a
refit) the previous job's process (pid, host, ...) and live figures (ETA, speed, ...) are cleared, so nothing
of a finished job is read as the new one's: a stale pid would make the queued job read "interrupted" and an
old ETA would say "0 s left" at 8 %. A refit (new sparsity levels for a finished model) and a confidence
measurement (more restarts of a finished model, crl.jobs.stability_job) are side jobs: the main training's
progress and outcome are set aside under "training" while one runs and put back when it ends, so the run still
reads as the training that made its model, with the side job's result under its own name ("refit",
"stability").
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from crl.runs.files import HEARTBEAT_FILE, STATUS_FILE, atomic_write_json, now_iso, read_json
from crl.runs.registry import MAIN_TRAINING

# Jobs on a finished model that leave it as it was; each keeps its record under its own name in status.json.
SIDE_JOBS = ("refit", "stability")
# The process that owns the job (crl.runs.registry.owner_record) and how it is being stopped.
PROCESS_FIELDS = ("pid", "host", "boot_id", "session_leader", "stopping", "queue_position")
# Live figures of one job (crl.jobs.heartbeat.JobControl): meaningless once that job has ended.
LIVE_FIELDS = (
    "eta_seconds",
    "steps_per_second",
    "samples_per_second",
    "checkpoint_step",
    "losses",
    "gpu_memory_mb",
    "gpu_memory_peak_mb",
    "gpu_memory_total_mb",
    "ended_at",
    "error",
    "resumed_from_step",
    "resumed_from_epoch",
    "world_size",
    "backend",
    "phase",
)
# The main training's progress and outcome: set aside while a refit reports its own in the same fields.
TRAINING_FIELDS = (
    "state",
    "device",
    "epoch",
    "epochs",
    "step",
    "total_steps",
    "steps_per_epoch",
    "restart",
    "restart_count",
    "validation_loss",
    "best_epoch",
    "best_validation_loss",
    "epochs_run",
    "seconds",
    "started",
    "started_at",
    "finished",
    "progress",
    "restarts",
    "kept_restart",
    "n_train",
    "n_validation",
)


def requeue(run_dir: Path, job: str, **fields: Any) -> dict[str, Any]:
    """Mark the run "queued" for a new job ("train": a resume; a side job: "refit", "stability") with the
    previous job's process and live figures cleared; returns the status written. `fields` are added (e.g. the
    refit's record)."""
    run_dir = Path(run_dir)
    status = read_json(run_dir / STATUS_FILE, {}) or {}
    aside = status.get(MAIN_TRAINING)
    if job in SIDE_JOBS:
        if not isinstance(aside, dict):  # a side job retried after a kill keeps the training set aside first
            status[MAIN_TRAINING] = {key: status[key] for key in TRAINING_FIELDS if key in status}
        for key in TRAINING_FIELDS:
            status.pop(key, None)
    elif isinstance(aside, dict):  # the training resumes: its own figures come back
        status.pop(MAIN_TRAINING)
        status.update(aside)
    for key in (*PROCESS_FIELDS, *LIVE_FIELDS):
        status.pop(key, None)
    status.update(fields, state="queued", job=job, queued_at=time.time(), updated=now_iso())
    (run_dir / HEARTBEAT_FILE).unlink(missing_ok=True)  # the old job's; its pid could be reused
    atomic_write_json(run_dir / STATUS_FILE, status)
    return status


def finish_refit(run_dir: Path, outcome: str, error: str | None = None) -> dict[str, Any]:
    """finish_side_job for a refit."""
    return finish_side_job(run_dir, "refit", outcome, error)


def finish_side_job(run_dir: Path, job: str, outcome: str, error: str | None = None) -> dict[str, Any]:
    """Put the main training's figures back after a side job ended ("done", "stopped" or "failed") and record
    its outcome under its name ("refit", "stability"); the run reads as it did before, plus what the job
    added."""
    run_dir = Path(run_dir)
    status = read_json(run_dir / STATUS_FILE, {}) or {}
    record = dict(status.get(job) or {})
    began = record.get("started_at") or status.get("started_at")
    record.update(state=outcome, error=error, ended_at=time.time())
    if isinstance(began, (int, float)):
        record["seconds"] = round(time.time() - began, 3)
    for key in (*TRAINING_FIELDS, *LIVE_FIELDS, "stopping", "queue_position"):
        status.pop(key, None)
    aside = status.pop(MAIN_TRAINING, None)
    status.update(aside if isinstance(aside, dict) else {"state": "done"})
    if status.get("state") in ("queued", "running"):
        status["state"] = (
            "stopped"  # the training was cut short before the side job; its model is what there is
        )
    status.update({job: record}, updated=now_iso())
    atomic_write_json(run_dir / STATUS_FILE, status)
    return status
