"""`crl runs list | status | stop | resume | refit | rename | delete`: the run registry from a terminal."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from crl.errors import RunError
from crl.jobs import job_status, parse_weights, refit_job, resume_job, stop_job
from crl.runs.registry import delete_run, list_runs, rename_run, resolve_run, runs_root

# What `crl runs status RUN` prints, in this order, when the status has it.
STATUS_KEYS = (
    "state",
    "device",
    "epoch",
    "epochs",
    "step",
    "total_steps",
    "eta_seconds",
    "samples_per_second",
    "validation_loss",
    "best_validation_loss",
    "gpu_memory_mb",
    "error",
)


def job_exit_code(run: Path) -> int:
    """The exit code of a job run in the foreground: 0 when done or stopped (saying how to resume), else 1."""
    state = job_status(run)["state"]
    if state == "stopped":
        print(f"stopped; resume with `crl runs resume {run}`", file=sys.stderr)
    return 0 if state in ("done", "stopped") else 1


def _format_time(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else ""


def _list(args: Any) -> int:
    """Every run as a table (or JSON); a star marks the runs that can be resumed."""
    runs = list_runs(args.root)
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=1))
        return 0
    if not runs:
        print(f"no runs in {runs_root(args.root)}")
        return 0
    header = (
        f"{'name':32} {'state':11} {'cohort':20} {'created':16} {'device':7} {'epoch':>9} {'val loss':>9}"
    )
    print(header)
    for r in runs:
        epochs = f"{r.epoch if r.epoch is not None else ''}/{r.epochs or ''}"
        loss = f"{r.best_validation_loss:.4g}" if isinstance(r.best_validation_loss, float) else ""
        state = r.state + ("*" if r.resumable else "")
        print(
            f"{r.name[:32]:32} {state:11} {r.cohort[:20]:20} {_format_time(r.created):16} "
            f"{r.device[:7]:7} {epochs:>9} {loss:>9}"
        )
    if any(r.resumable for r in runs):
        print("* resumable: crl runs resume NAME")
    return 0


def _status(run: Path, args: Any) -> int:
    status = job_status(run)
    if args.json:
        print(json.dumps(status, indent=1, default=str))
        return 0
    for key in STATUS_KEYS:
        if status.get(key) is not None:
            print(f"{key}: {status[key]}")
    refit = status.get("refit")
    if isinstance(refit, dict):  # the latest refit at other sparsity weights (crl.jobs.job_record)
        weights = ", ".join(f"{w:g}" for w in refit.get("weights") or [])
        took = f" in {refit['seconds']:.0f} s" if isinstance(refit.get("seconds"), (int, float)) else ""
        error = f": {refit['error']}" if refit.get("error") else ""
        print(f"refit at sparsity {weights}: {refit.get('state')}{took}{error}")
    measured = status.get("stability")
    if isinstance(measured, dict):  # the latest confidence measurement (crl.jobs.stability_job)
        took = f" in {measured['seconds']:.0f} s" if isinstance(measured.get("seconds"), (int, float)) else ""
        error = f": {measured['error']}" if measured.get("error") else ""
        trained = f", {measured.get('trained', 0)} of {measured.get('to_train', '?')} new restarts trained"
        outcome = f"{measured.get('state')}{trained}{took}{error}"
        print(f"confidence across {measured.get('restarts')} restarts: {outcome}")
    for r in status.get("restarts") or []:  # crl.engine.restarts: every restart's best validation loss
        kept = " (kept)" if r.get("restart") == status.get("kept_restart") else ""
        loss = f"best validation loss {r['best_validation_loss']:.6g}"
        print(f"restart {r['restart']} (seed {r['seed']}): {loss}{kept}")
    return 0


def _stop(run: Path, args: Any) -> int:
    print(f"{run.name}: {stop_job(run, grace=args.grace)}")
    return 0


def _resume(run: Path, args: Any) -> int:
    resume_job(run, background=args.background)
    if args.background:
        print(f"resuming {run} in the background")
        return 0
    return job_exit_code(run)


def _refit(run: Path, args: Any) -> int:
    refit_job(run, parse_weights(args.sparsity), epochs=args.epochs, background=args.background)
    if args.background:
        print(f"refitting {run} in the background")
        return 0
    return job_exit_code(run)


def _rename(run: Path, args: Any) -> int:
    print(f"renamed to {rename_run(run, args.new_name)}")
    return 0


def _delete(run: Path, args: Any) -> int:
    if not args.yes:
        answer = input(f"delete {run} and everything in it? [y/N] ") if sys.stdin.isatty() else ""
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted (pass --yes to skip this question)", file=sys.stderr)
            return 1
    delete_run(run)
    print(f"deleted {run}")
    return 0


# The commands that act on one run (given by folder or by name under the registry root).
ON_ONE_RUN = {
    "status": _status,
    "stop": _stop,
    "resume": _resume,
    "refit": _refit,
    "rename": _rename,
    "delete": _delete,
}


def runs_cli(args: Any) -> int:
    """`crl runs list | status | stop | resume | refit | rename | delete`."""
    command = args.runs_command
    if command == "list":
        return _list(args)
    run = resolve_run(args.run, args.root)
    if command not in ON_ONE_RUN:
        raise RunError(f"unknown runs command '{command}'")
    return ON_ONE_RUN[command](run, args)
