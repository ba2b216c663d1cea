"""Background training jobs, one concept a module.

threads (torch threads a job may use), queue (the per-machine slot queue), heartbeat (the job process's
status, heartbeat and stop requests), checkpoints (where a job resumes from), worker (the job process's
training), launch (a job on several GPUs under torchrun), control (the caller's side: start, status, stop,
resume, refit), stability_job and stability_worker (more restarts of a finished run and its confidence, as a
job: the caller's and the process's side).
`python -m crl.jobs RUN_DIR` (crl/jobs/__main__.py) runs one job.
"""

from crl.jobs.checkpoints import find_training_state, trim_metrics
from crl.jobs.control import (
    STOP_GRACE_SECONDS,
    job_status,
    parse_weights,
    prepare_job,
    refit_job,
    resume_job,
    settle_job,
    start_job,
    stop_job,
)
from crl.jobs.heartbeat import JobControl, gpu_memory, terminal_control
from crl.jobs.launch import launch_distributed_job
from crl.jobs.queue import Slot, acquire_slot, acquire_slots, max_jobs, queue_dir
from crl.jobs.stability_job import (
    StabilityJobRunning,
    restarts_of,
    seconds_per_restart,
    start_stability_job,
)
from crl.jobs.threads import apply_thread_env, job_threads
from crl.jobs.worker import job_config, oom_message, run_job

__all__ = [
    "STOP_GRACE_SECONDS",
    "JobControl",
    "Slot",
    "StabilityJobRunning",
    "acquire_slot",
    "acquire_slots",
    "apply_thread_env",
    "find_training_state",
    "gpu_memory",
    "job_config",
    "job_status",
    "job_threads",
    "launch_distributed_job",
    "max_jobs",
    "oom_message",
    "parse_weights",
    "prepare_job",
    "queue_dir",
    "refit_job",
    "restarts_of",
    "resume_job",
    "run_job",
    "seconds_per_restart",
    "settle_job",
    "start_job",
    "start_stability_job",
    "stop_job",
    "terminal_control",
    "trim_metrics",
]
