"""A job on several GPUs: wait in the queue for all its slots, then become torchrun running the job on them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from crl.errors import CrlError
from crl.jobs.heartbeat import JobControl
from crl.jobs.queue import acquire_slots
from crl.runs.files import JOB_FILE, read_json


def launch_distributed_job(run_dir: Path, gpus: int) -> int:
    """Wait in the queue for `gpus` slots, then replace this process by torchrun running the job on them.

    The slot locks are made inheritable so they stay held by torchrun and its ranks until the last exits;
    on CUDA the ranks see only the GPUs of the slots held (CUDA_VISIBLE_DEVICES).
    """
    from crl.engine.distributed import torchrun_command

    spec = read_json(run_dir / JOB_FILE, {}) or {}
    device = spec.get("device") or "auto"
    control = JobControl(run_dir)
    control.begin(state="queued")
    try:
        slots = acquire_slots(
            device,
            gpus,
            control.stop_requested,
            on_wait=lambda ahead: control.update_status(state="queued", queue_position=ahead),
            configured=spec.get("max_jobs"),
        )
    except CrlError as error:
        control.close()
        control.update_status(state="failed", error=str(error))
        return 1
    control.close()
    if slots is None:
        control.update_status(state="stopped", error="stopped while waiting in the queue")
        return 0
    env = dict(os.environ)
    gpu_ids = sorted({slot.device.split(":", 1)[1] for slot in slots if slot.device.startswith("cuda")})
    if gpu_ids:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
        gpus = len(gpu_ids) if len(gpu_ids) < gpus else gpus
    for slot in slots:
        os.set_inheritable(slot.fd, True)
    command = torchrun_command(gpus, ["crl.jobs", str(run_dir.resolve()), "--no-queue"])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(command[0], command, env)
    return 1  # not reached
