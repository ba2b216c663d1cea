"""The caller's side of a job (the dashboard, the CLI): start, live status, stop, resume and refit (a
confidence measurement starts in crl.jobs.stability_job; resume_job retries one cut short).

A job is a run folder plus `job.json` (what to train). `start_job` writes both and launches
`python -m crl.jobs RUN_DIR` in a new session, its output in `log.txt`; the caller returns at once. A stop is
the stop file, then SIGTERM, then SIGKILL after a grace period. A job whose process vanished (kill -9, a
reboot) reads as "interrupted" and resumes from its last checkpoint.

Nothing here imports torch, so the dashboard's process stays light.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crl.errors import RunError
from crl.jobs.job_record import SIDE_JOBS, finish_refit, requeue
from crl.jobs.threads import job_threads
from crl.jobs.worker import run_job
from crl.runs.files import (
    CONFIG_FILE,
    GRAPH_FILE,
    HEARTBEAT_FILE,
    JOB_FILE,
    LOG_FILE,
    REFIT_FILE,
    STATUS_FILE,
    STOP_FILE,
    atomic_write_json,
    now_iso,
    read_json,
)
from crl.runs.registry import (
    ACTIVE_STATES,
    MAIN_TRAINING,
    can_resume,
    effective_state,
    new_run_dir,
    owner_record,
    pid_alive,
    runs_root,
    timestamp,
)
from crl.runs.storage import storage_error

STOP_GRACE_SECONDS = 10.0

_CHILDREN: list[subprocess.Popen] = []


def _spawn(run_dir: Path, args: Sequence[str] = (), threads: int | None = None, gpus: int = 0) -> int:
    """Launch the job process detached (own session, log file, no stdin); returns its pid.

    A job on several GPUs starts as a launcher that waits in the queue for its slots and then becomes
    torchrun (see launch_distributed_job)."""
    env = {**os.environ, "CRL_THREADS": str(job_threads(threads)), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "crl.jobs", str(run_dir.resolve()), *args]
    if gpus > 1:
        command += ["--gpus", str(gpus)]
    with open(run_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
    _CHILDREN.append(process)
    _reap()
    return process.pid


def _reap() -> None:
    """Collect finished children so a long-lived caller (the dashboard) keeps no zombies."""
    for process in list(_CHILDREN):
        if process.poll() is not None:
            _CHILDREN.remove(process)


def prepare_job(
    cohort_dir: Path | str,
    config: Any = None,
    runs_root_dir: Path | str | None = None,
    *,
    name: str | None = None,
    overrides: Sequence[str] = (),
    config_file: Path | str | None = None,
    device: str = "auto",
    seed: int | None = None,
    sparsity_path: Sequence[float] = (),
    path_epochs: int | None = None,
    gpus: int = 0,
    run_dir: Path | str | None = None,
) -> Path:
    """Create a run folder holding `job.json` (what to train) and a "queued" status; start_job's first half.

    A folder this call created is removed again when its files cannot be written (a full disk), so a failed
    start leaves no half-made run; a read-only runs folder is a RunError saying so."""
    cohort_dir = Path(cohort_dir).resolve()
    if not cohort_dir.is_dir():
        raise RunError(f"cohort folder {cohort_dir} does not exist")
    if config is not None and hasattr(config, "to_dict"):
        config = config.to_dict()
    spec = {
        "cohort": str(cohort_dir),
        "config": config,
        "config_file": str(Path(config_file).resolve()) if config_file else None,
        "overrides": list(overrides),
        "device": device,
        "seed": seed,
        "sparsity_path": [float(w) for w in sparsity_path],
        "path_epochs": path_epochs,
        "gpus": int(gpus),
        "created": time.time(),
    }
    path = None
    try:
        if run_dir is not None:
            path = Path(run_dir)
            if path.exists() and any(path.iterdir()):
                raise RunError(f"{path} already exists and is not empty; choose a new run folder")
            path.mkdir(parents=True, exist_ok=True)
        else:
            path = new_run_dir(runs_root(runs_root_dir), name, stem=cohort_dir.name)
        atomic_write_json(path / JOB_FILE, spec)
        atomic_write_json(
            path / STATUS_FILE,
            {
                "state": "queued",
                "job": "train",
                "created": spec["created"],
                "device": device,
                "updated": now_iso(),
            },
        )
    except OSError as error:
        if path is not None and path.is_dir():
            for file in (JOB_FILE, STATUS_FILE):
                (path / file).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.rmdir()  # only when empty: never anything the user had there
        raise storage_error(error, "choose another run folder, or make that folder writable") from None
    return path


def start_job(
    cohort_dir: Path | str,
    config: Any = None,
    runs_root_dir: Path | str | None = None,
    *,
    threads: int | None = None,
    **options: Any,
) -> Path:
    """Start training `cohort_dir` in a background process and return its run folder at once (state "queued").

    `config` is a crl.config.Config, a dict in its shape, or None for the cohort's defaults. Options (see
    prepare_job): `name`, `run_dir`, `overrides` ("section.key=value" strings applied on top), `config_file`,
    `device` (auto | cpu | cuda | cuda:N), `seed`, `sparsity_path` (extra sparsity weights fitted after the
    main training, each warm-started from the previous), `path_epochs`, `gpus` (>1: DDP under torchrun).
    `threads` caps the job's torch threads (default: all cores but one).
    """
    path = prepare_job(cohort_dir, config, runs_root_dir, **options)
    pid = _spawn(path, threads=threads, gpus=int(options.get("gpus") or 0))
    _record_launcher(path, pid)
    return path


def _record_launcher(run_dir: Path, pid: int) -> None:
    """Note the child's pid at once so the run is never ownerless (the child confirms it when it starts).

    Written unless the child has recorded itself already: a pid left by an earlier job (requeue clears it, but
    a status written by an older crl may keep one) must never stand for the new job, or it reads "interrupted".
    """
    status = read_json(run_dir / STATUS_FILE, {}) or {}
    if status.get("pid") != pid:
        atomic_write_json(
            run_dir / STATUS_FILE, {**status, **owner_record(), "pid": pid, "session_leader": True}
        )


def job_status(run_dir: Path | str) -> dict[str, Any]:
    """status.json with the heartbeat's latest progress, `state` corrected for dead jobs ("interrupted"),
    `alive`, `resumable` and `heartbeat_age` (seconds). The dashboard polls this every second or two."""
    _reap()
    run_dir = Path(run_dir)
    status = read_json(run_dir / STATUS_FILE, {}) or {}
    beat = read_json(run_dir / HEARTBEAT_FILE, {}) or {}
    merged = dict(status)
    recorded = status.get("state", "unknown")
    if recorded in ACTIVE_STATES and beat.get("pid") == status.get("pid"):
        for key, value in beat.items():
            if key not in ("pid", "host", "boot_id", "time") and value is not None:
                merged.setdefault(key, value)
                if key in ("step", "epoch") and isinstance(value, (int, float)):
                    merged[key] = max(value, merged.get(key) or 0)
    heartbeat = beat.get("time") if beat.get("pid") == status.get("pid") else None
    merged["heartbeat"] = heartbeat
    merged["heartbeat_age"] = time.time() - heartbeat if heartbeat else None
    merged["state"] = effective_state({**status, "heartbeat": heartbeat or timestamp(status.get("updated"))})
    merged["recorded_state"] = recorded
    merged["alive"] = merged["state"] in ACTIVE_STATES
    merged["stop_requested"] = (run_dir / STOP_FILE).exists()
    merged["resumable"] = can_resume(run_dir, merged["state"])
    return merged


def _wait_gone(status: dict[str, Any], seconds: float) -> bool:
    """Poll until the job's process has exited (True) or `seconds` pass (False)."""
    pid = status.get("pid")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _reap()
        if not isinstance(pid, int) or not pid_alive(pid):
            return True
        time.sleep(0.05)
    _reap()
    return not (isinstance(pid, int) and pid_alive(pid))


def _signal(status: dict[str, Any], sig: int) -> None:
    pid = status.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return
    try:
        # A job started by start_job leads its own session: signal the whole group (torchrun's ranks too).
        if status.get("session_leader") and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_job(
    run_dir: Path | str, grace: float = STOP_GRACE_SECONDS, wait: bool = True, pid: int | None = None
) -> str:
    """Ask a job to stop and return its state afterwards.

    Writes the stop file (the job checkpoints and stops at its next step), sends SIGTERM after half of `grace`
    seconds, SIGKILL after `grace`. Signals go only to the process that owned the run when the stop was asked
    (`pid`, default: the one recorded now), never to a job resumed in the meantime. With wait=False this
    returns at once ("stopping") and a small detached process carries out the same escalation. A job on
    another machine can only be asked through the file.
    """
    run_dir = Path(run_dir)
    status = read_json(run_dir / STATUS_FILE, {}) or {}
    if pid is None:
        if effective_state(status) not in ACTIVE_STATES:
            return settle_job(run_dir)
        pid = status.get("pid")
    elif status.get("pid") != pid:
        status = {
            **status,
            "pid": pid,
            "session_leader": False,
        }  # the run moved on; touch only the old process
    asked = False
    if status.get("pid") == pid and effective_state(status) in ACTIVE_STATES:
        asked = _ask_to_stop(run_dir)
    if not wait:
        command = [sys.executable, "-m", "crl.jobs", "--stop", str(run_dir.resolve()), "--grace", str(grace)]
        if isinstance(pid, int):
            command += ["--pid", str(pid)]
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return "stopping"
    from crl.runs.registry import host

    if status.get("host", host()) != host():
        deadline = time.monotonic() + grace * 3
        while time.monotonic() < deadline and job_status(run_dir)["alive"]:
            time.sleep(0.2)
        return job_status(run_dir)["state"]
    # Without the stop file (a read-only folder) SIGTERM asks at once: the job treats it as the same request.
    if not asked or not _wait_gone(status, grace / 2):
        _signal(status, signal.SIGTERM)
        if not _wait_gone(status, grace / 2):
            _signal(status, signal.SIGKILL)
            _wait_gone(status, 5.0)
    return settle_job(run_dir, note="stopped on request", requested=True)


def _ask_to_stop(run_dir: Path) -> bool:
    """Write the stop file; False (with a line on stderr) when the folder cannot be written."""
    try:
        (run_dir / STOP_FILE).write_text(str(time.time()))
        return True
    except OSError as error:
        from crl.runs.storage import describe_os_error

        print(
            f"{run_dir.name}: cannot write the stop file: {describe_os_error(error)}; sending SIGTERM instead",
            file=sys.stderr,
        )
        return False


def settle_job(
    run_dir: Path,
    note: str = "the job's process ended without recording a final state",
    requested: bool = False,
) -> str:
    """Persist "stopped"/"interrupted" for a job whose process is gone but whose status still says active
    ("stopped" when a stop was `requested` or the stop file asks for one). Returns the state; a folder that
    cannot be written keeps its file, and the state is still returned."""
    status = read_json(run_dir / STATUS_FILE, {}) or {}
    state = effective_state(status)
    if state == "interrupted" and status.get("state") in ACTIVE_STATES:
        final = "stopped" if requested or (run_dir / STOP_FILE).exists() else "interrupted"
        with contextlib.suppress(OSError):
            atomic_write_json(
                run_dir / STATUS_FILE, {**status, "state": final, "error": note, "updated": now_iso()}
            )
        return final
    return state


def resume_job(run_dir: Path | str, background: bool = True, threads: int | None = None) -> Path:
    """Continue a stopped, interrupted or failed run from its last checkpoint (from scratch when it has none).

    In the background (default) this returns at once; otherwise it trains in this process until done.
    """
    run_dir = Path(run_dir)
    status = job_status(run_dir)
    if status["alive"]:
        raise RunError(f"run '{run_dir.name}' is still {status['state']}; stop it before resuming")
    if status["state"] == "done":
        raise RunError(f"run '{run_dir.name}' has finished; start a new run to train again")
    # A side job was cut short (crl.jobs.job_record): run it again (a confidence measurement keeps the restarts
    # it had finished and trains the rest, crl.jobs.stability_job).
    side = status.get("job") if isinstance(status.get(MAIN_TRAINING), dict) else None
    side = side if side in SIDE_JOBS else "refit" if side else None
    refit = side == "refit"
    if refit and not (run_dir / REFIT_FILE).exists():
        finish_refit(run_dir, "done")  # killed after its last level was saved: the refit had finished
        return run_dir
    try:
        if not (run_dir / JOB_FILE).exists():
            _job_from_run(run_dir)
        (run_dir / STOP_FILE).unlink(missing_ok=True)
        if side:
            requeue(run_dir, side)
        else:
            requeue(run_dir, "train", resumes=int(status.get("resumes") or 0) + 1)
    except OSError as error:
        raise storage_error(
            error,
            f"run '{run_dir.name}' cannot be resumed in place: make {run_dir} "
            "writable, or copy the run to a folder you can write and resume the copy",
        ) from None
    if background:
        spec = read_json(run_dir / JOB_FILE, {}) or {}
        args = [f"--{side}"] if side else []
        pid = _spawn(run_dir, args, threads=threads, gpus=0 if side else int(spec.get("gpus") or 0))
        _record_launcher(run_dir, pid)
    else:
        code = run_job(run_dir, queue=False, foreground=True, refit_only=refit, stability=side == "stability")
        if code != 0:
            raise RunError(job_status(run_dir).get("error") or f"resuming {run_dir} failed")
    return run_dir


def _job_from_run(run_dir: Path) -> None:
    """Write job.json for a run started by plain `crl train` (its config.json records cohort and configuration)."""
    from crl.runs.folder import recorded_cohort_path

    config = read_json(run_dir / CONFIG_FILE, {}) or {}
    cohort_path = recorded_cohort_path(run_dir, config if isinstance(config, dict) else {})
    if cohort_path is None:
        raise RunError(f"{run_dir}/config.json does not record the cohort folder; this run cannot be resumed")
    model_config = config.get("config")
    atomic_write_json(
        run_dir / JOB_FILE,
        {
            "cohort": str(cohort_path.resolve()),
            "config": model_config,
            "overrides": [],
            "device": (model_config or {}).get("train", {}).get("device", "auto"),
            "seed": None,
            "sparsity_path": [],
            "created": time.time(),
        },
    )


def refit_job(
    run_dir: Path | str,
    weights: Sequence[float],
    epochs: int | None = None,
    background: bool = True,
    threads: int | None = None,
) -> Path:
    """Fit a finished run again at each sparsity weight (warm-started, quick) and add the levels to its path."""
    run_dir = Path(run_dir)
    status = job_status(run_dir)
    if status["alive"]:
        raise RunError(f"run '{run_dir.name}' is {status['state']}; wait for it to finish or stop it first")
    if not (run_dir / GRAPH_FILE).exists():
        raise RunError(f"run '{run_dir.name}' has no trained model yet; finish or resume it first")
    if not weights:
        raise RunError("give at least one sparsity weight to refit at")
    weights = [float(w) for w in weights]
    try:
        if not (run_dir / JOB_FILE).exists():
            _job_from_run(run_dir)
        atomic_write_json(run_dir / REFIT_FILE, {"weights": weights, "epochs": epochs})
        (run_dir / STOP_FILE).unlink(missing_ok=True)
        requeue(run_dir, "refit", refit={"weights": weights, "epochs": epochs, "state": "queued"})
    except OSError as error:
        raise storage_error(
            error,
            f"run '{run_dir.name}' cannot be refitted in place: make {run_dir} "
            "writable, or copy the run to a folder you can write and refit the copy",
        ) from None
    if background:
        pid = _spawn(run_dir, ["--refit"], threads=threads)
        _record_launcher(run_dir, pid)
    else:
        run_job(run_dir, queue=False, foreground=True, refit_only=True)
    return run_dir


def parse_weights(text: str | Sequence[float] | None) -> list[float]:
    """ "0.001,0.01, 0.1" -> [0.001, 0.01, 0.1]; ConfigError naming the bad item otherwise."""
    from crl.errors import ConfigError

    if text is None or text == "":
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    weights = []
    for item in items:
        try:
            value = float(str(item).strip())
        except ValueError:
            raise ConfigError(
                f"sparsity weight '{item}' is not a number; give a list like 0.001,0.01,0.1"
            ) from None
        if value < 0:
            raise ConfigError(f"sparsity weights must be >= 0 (got {value})")
        weights.append(value)
    return weights
