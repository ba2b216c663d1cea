"""How many torch threads a job may use: a background job leaves a core to the dashboard ($CRL_THREADS)."""

from __future__ import annotations

import os


def job_threads(threads: int | None = None) -> int:
    """Torch threads for a background job: leave one core to the dashboard (two busy torch processes on the
    same cores slow each other down about 30x)."""
    if threads is not None:
        return max(1, int(threads))
    env = os.environ.get("CRL_THREADS")
    if env:
        return max(1, int(env))
    return max(1, (os.cpu_count() or 2) - 1)


def apply_thread_env() -> None:
    """Honour $CRL_THREADS in this process (set by start_job for its child; usable by any `crl train`)."""
    env = os.environ.get("CRL_THREADS")
    if env:
        import torch

        torch.set_num_threads(max(1, int(env)))
