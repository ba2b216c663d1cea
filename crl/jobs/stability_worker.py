"""The confidence job's process (crl.jobs.stability_job starts it): train the restarts its record asks for,
reporting which one of how many in status.json, then write the confidence files; run by crl.jobs.worker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from crl.errors import RunError
from crl.jobs.heartbeat import JobControl
from crl.jobs.job_record import finish_side_job
from crl.runs.files import STATUS_FILE, read_json

STABILITY_JOB = "stability"  # the job's name in status.json, and the key of its record there


def measure_confidence(run_dir: Path, device: str, control: JobControl) -> None:
    """The job process's work (crl.jobs.worker.run_job): train the missing restarts, write the confidence."""
    from crl.analysis.more_restarts import extend_restarts, restarts_to_train

    record: dict[str, Any] = dict((read_json(run_dir / STATUS_FILE, {}) or {}).get(STABILITY_JOB) or {})
    if not isinstance(record.get("restarts"), int):
        raise RunError(
            f"{run_dir}/{STATUS_FILE} does not say how many restarts to train; launch the job again"
        )
    # A retry after a kill trains only what is left: count again.
    record.pop("restart", None)
    record.update(state="running", started_at=time.time(), trained=0, error=None)
    record["to_train"] = len(restarts_to_train(run_dir, record["restarts"]))
    control.update_status(**{STABILITY_JOB: dict(record)})

    def on_restart(index: int, total: int) -> None:
        if "restart" in record:
            record["trained"] += 1
        record.update(restart=index, to_train=max(record["to_train"], record["trained"] + 1))
        control.progress.update(restart=index, restart_count=total)
        control.update_status(**{STABILITY_JOB: dict(record)})

    result = extend_restarts(
        run_dir,
        record["restarts"],
        record.get("cohort"),
        on_restart=on_restart,
        callbacks=[control],
        device=device,
    )
    control.close()
    if result is None or control.stopped:
        finish_side_job(run_dir, STABILITY_JOB, "stopped")
        return
    control.update_status(**{STABILITY_JOB: {**record, "trained": record["to_train"]}})
    finish_side_job(run_dir, STABILITY_JOB, "done")
