"""`python -m crl.jobs RUN_DIR` runs a job (`--refit`, `--stability`: side jobs); `--stop RUN_DIR` stops one."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from crl.jobs.control import STOP_GRACE_SECONDS, stop_job
from crl.jobs.launch import launch_distributed_job
from crl.jobs.worker import run_job


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m crl.jobs RUN_DIR` runs a job; `python -m crl.jobs --stop RUN_DIR [--grace S]` stops one."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m crl.jobs")
    parser.add_argument("run_dir")
    parser.add_argument("--stop", action="store_true", help="stop the job instead of running it")
    parser.add_argument("--grace", type=float, default=STOP_GRACE_SECONDS)
    parser.add_argument("--pid", type=int, default=None, help="with --stop: signal only this process")
    parser.add_argument("--no-queue", action="store_true", help="start at once, without waiting for a slot")
    parser.add_argument(
        "--foreground", action="store_true", help="Ctrl-C stops gracefully (a terminal's job)"
    )
    parser.add_argument("--refit", action="store_true", help="refit at the weights in refit.json")
    parser.add_argument(
        "--stability",
        action="store_true",
        help="train the restarts status.json's `stability` record asks for",
    )
    parser.add_argument("--gpus", type=int, default=0, help="queue for N slots, then run under torchrun")
    args = parser.parse_args(argv)
    if args.stop:
        stop_job(Path(args.run_dir), grace=args.grace, wait=True, pid=args.pid)
        return 0
    from crl.engine.distributed import under_torchrun

    if args.gpus > 1 and not under_torchrun():
        return launch_distributed_job(Path(args.run_dir), args.gpus)
    return run_job(
        Path(args.run_dir),
        queue=not args.no_queue,
        foreground=args.foreground,
        refit_only=args.refit,
        stability=args.stability,
    )


if __name__ == "__main__":
    sys.exit(main())
