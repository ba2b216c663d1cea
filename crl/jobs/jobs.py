"""Training jobs as separate OS processes: start (queued), live status, stop, resume; `python -m crl.jobs RUN_DIR`.

A job is a run folder plus `job.json` (what to train). `start_job` writes both and launches
`python -m crl.jobs RUN_DIR` in a new session, its output in `log.txt`; the caller (the dashboard, the CLI)
returns at once. The job waits for a free slot (at most one per GPU, one on CPU unless configured), trains
through crl.engine.fit, refreshes `status.json` with its progress and `heartbeat.json` every couple of seconds,
and saves a resumable checkpoint now and then and whenever it is asked to stop. A stop is a `stop` file,
then SIGTERM, then SIGKILL after a grace period. A job whose process vanished (kill -9, a reboot) reads as
"interrupted" and resumes from its last checkpoint.

This module imports torch only inside the job process, so the dashboard's process stays light.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crl.errors import CrlError, RunError
from crl.runs.files import STOP_FILE, atomic_write_json, now_iso, read_json, read_jsonl
from crl.runs.registry import (
    ACTIVE_STATES,
    STALE_SECONDS,
    effective_state,
    new_run_dir,
    owner_alive,
    owner_record,
    pid_alive,
    runs_root,
    timestamp,
)

JOB_FILE = "job.json"
REFIT_FILE = "refit.json"
STATUS_FILE = "status.json"
HEARTBEAT_FILE = "heartbeat.json"
LOG_FILE = "log.txt"
METRICS_FILE = "metrics.jsonl"
HEARTBEAT_SECONDS = 2.0
STATUS_SECONDS = 1.0
CHECKPOINT_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
QUEUE_POLL_SECONDS = 0.5

_CHILDREN: list[subprocess.Popen] = []


# ------------------------------------------------------------------------------------------ settings


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


def queue_dir() -> Path:
    """Where slot locks and the waiting line live: $CRL_QUEUE_DIR, else ~/.cache/crl/queue (one per machine)."""
    env = os.environ.get("CRL_QUEUE_DIR")
    path = Path(env) if env else Path.home() / ".cache" / "crl" / "queue"
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_jobs(device_kind: str, n_gpus: int, configured: int | None = None) -> int:
    """Concurrent jobs allowed: `configured`, else $CRL_MAX_JOBS, else one per GPU (or one on CPU)."""
    if configured is None and os.environ.get("CRL_MAX_JOBS"):
        configured = int(os.environ["CRL_MAX_JOBS"])
    if configured is not None:
        return max(1, int(configured))
    return max(1, n_gpus) if device_kind == "cuda" else 1


# ------------------------------------------------------------------------------------------ the queue


@dataclass
class Slot:
    """A held concurrency slot: an exclusive flock the kernel releases when the process dies (even kill -9)."""

    index: int
    device: str
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = -1


def slot_devices(device: str, configured: int | None = None) -> tuple[str, list[str], list[int]]:
    """(pool, device of every slot in the pool, the slots this device request may take)."""
    if device == "cpu":
        n = max_jobs("cpu", 0, configured)
        return "cpu", ["cpu"] * n, list(range(n))
    import torch

    if device == "auto" and not torch.cuda.is_available():
        n = max_jobs("cpu", 0, configured)
        return "cpu", ["cpu"] * n, list(range(n))
    n_gpus = torch.cuda.device_count()
    if n_gpus == 0:
        from crl.engine.device import resolve_device

        resolve_device(device)  # raises the readable "no CUDA GPU" error
    n = max_jobs("cuda", n_gpus, configured)
    devices = [f"cuda:{i % n_gpus}" for i in range(n)]
    if device in ("auto", "cuda"):
        return "cuda", devices, list(range(n))
    wanted = f"cuda:{int(device.split(':', 1)[1])}"
    allowed = [i for i, d in enumerate(devices) if d == wanted]
    if not allowed:
        from crl.engine.device import resolve_device

        resolve_device(device)
        allowed = [i for i, d in enumerate(devices) if d == wanted] or [0]
    return "cuda", devices, allowed


def _try_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return -1
    return fd


def _waiting_entries(folder: Path) -> list[Path]:
    """Live entries of a waiting line, oldest first; entries of dead processes are removed on sight."""
    live = []
    for entry in sorted(folder.glob("*.json")):
        owner = read_json(entry, None)
        try:
            age = time.time() - entry.stat().st_mtime
        except OSError:
            continue
        alive = isinstance(owner, dict) and owner_alive({**owner, "heartbeat": time.time() - age})
        if alive and age < STALE_SECONDS * 4:
            live.append(entry)
        else:
            entry.unlink(missing_ok=True)
    return live


def acquire_slot(
    device: str,
    should_stop: Callable[[], bool],
    on_wait: Callable[[int], None] | None = None,
    configured: int | None = None,
    poll: float = QUEUE_POLL_SECONDS,
) -> Slot | None:
    """Wait in line (first come, first served) for a free slot; None when `should_stop` turns True first.

    `on_wait(position)` is told how many jobs are ahead each time the line is checked.
    """
    slots = acquire_slots(device, 1, should_stop, on_wait, configured, poll)
    return slots[0] if slots else None


def acquire_slots(
    device: str,
    count: int,
    should_stop: Callable[[], bool],
    on_wait: Callable[[int], None] | None = None,
    configured: int | None = None,
    poll: float = QUEUE_POLL_SECONDS,
) -> list[Slot] | None:
    """Like acquire_slot, for a job that needs `count` slots at once (a torchrun job on several GPUs); a
    request for more slots than the pool has takes the whole pool."""
    pool, devices, allowed = slot_devices(device, configured)
    count = max(1, min(count, len(allowed)))
    base = queue_dir()
    line = base / f"{pool}-waiting"
    line.mkdir(parents=True, exist_ok=True)
    entry = line / f"{time.time_ns():020d}-{os.getpid()}.json"
    atomic_write_json(entry, owner_record())
    try:
        while True:
            if should_stop():
                return None
            entry.touch()
            waiting = _waiting_entries(line)
            position = waiting.index(entry) if entry in waiting else 0
            if position == 0:
                held = []
                for index in allowed:
                    fd = _try_lock(base / f"{pool}-slot-{index}.lock")
                    if fd >= 0:
                        held.append(Slot(index, devices[index], fd))
                        if len(held) == count:
                            return held
                for slot in held:  # not enough free: hold none while waiting, so others are not blocked
                    slot.release()
            if on_wait is not None:
                on_wait(position)
            time.sleep(poll)
    finally:
        entry.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ in-job control


class JobControl:
    """The training process's side of a job: owner record, heartbeat, live progress, stop requests, checkpoints.

    Used as a fit() callback. `on_step` returns True once a stop is requested (stop file, SIGTERM, or Ctrl-C in
    a terminal), so fit() ends the epoch early; `on_epoch` then saves a checkpoint through `save_state`.
    Under torchrun every rank holds one: the stop decision is agreed by all ranks, only rank 0 writes files.
    """

    def __init__(
        self,
        run_dir: Path,
        save_state: Callable[[dict[str, Any]], None] | None = None,
        checkpoint_every: int = 10,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
        writes_files: bool = True,
        epoch_checkpoints: bool = True,
    ):
        self.run_dir = Path(run_dir)
        self.epoch_checkpoints = epoch_checkpoints
        self.save_state = save_state
        self.checkpoint_every = max(1, checkpoint_every)
        self.checkpoint_seconds = checkpoint_seconds
        self.writes_files = writes_files
        self._signal_stop = False
        self._stopping = False
        self._last_status = 0.0
        self._last_checkpoint = time.monotonic()
        self._session_start = time.monotonic()
        self._session_first_step: int | None = None
        self._heartbeat: threading.Thread | None = None
        self._halt = threading.Event()
        self._previous_handlers: dict[int, Any] = {}
        self.progress: dict[str, Any] = {}
        self.device = "cpu"
        self.total_steps = 0
        self.saved_step: int | None = None

    # -- status files

    def update_status(self, **fields: Any) -> None:
        """Merge fields into status.json (main thread only; other writers, e.g. RunFolder, merge too)."""
        if not self.writes_files:
            return
        status = read_json(self.run_dir / STATUS_FILE, {}) or {}
        status.update(fields)
        status["updated"] = now_iso()
        atomic_write_json(self.run_dir / STATUS_FILE, status)

    def _beat(self) -> None:
        while not self._halt.wait(HEARTBEAT_SECONDS):
            self.write_heartbeat()

    def write_heartbeat(self) -> None:
        """heartbeat.json has one writer (this thread), so it never races status.json's writers."""
        if self.writes_files:
            atomic_write_json(
                self.run_dir / HEARTBEAT_FILE, {**owner_record(), "time": time.time(), **self.progress}
            )

    def begin(self, state: str = "running", handle_sigint: bool = False) -> None:
        """Record this process as the run's owner, start the heartbeat, turn SIGTERM into a graceful stop."""
        self.update_status(
            state=state, error=None, **owner_record(), session_leader=os.getsid(0) == os.getpid()
        )
        self.write_heartbeat()
        if self.writes_files:
            self._heartbeat = threading.Thread(target=self._beat, name="crl-heartbeat", daemon=True)
            self._heartbeat.start()
        if threading.current_thread() is threading.main_thread():
            signals = [signal.SIGTERM] + ([signal.SIGINT] if handle_sigint else [])
            for sig in signals:
                self._previous_handlers[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._signal_stop:
            # A second signal: the user insists; fall back to the default behaviour.
            signal.signal(signum, self._previous_handlers.get(signum, signal.SIG_DFL))
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self._signal_stop = True

    def close(self) -> None:
        """Stop the heartbeat and restore signal handlers (before the final state is written)."""
        self._halt.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=5)
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()

    def stop_requested(self) -> bool:
        """A stop file or a signal asked this job to stop."""
        return self._signal_stop or (self.run_dir / STOP_FILE).exists()

    def _agreed_stop(self) -> bool:
        from crl.engine.distributed import any_rank

        return any_rank(self.stop_requested())

    # -- fit() callback hooks

    def on_start(self, info: dict[str, Any]) -> None:
        self.device = str(info.get("device", "cpu"))
        self.total_steps = int(info["epochs"]) * int(info["steps_per_epoch"])
        self.progress.update(
            epochs=int(info["epochs"]),
            steps_per_epoch=int(info["steps_per_epoch"]),
            total_steps=self.total_steps,
            epoch=int(info.get("start_epoch", 0)),
            step=int(info.get("start_epoch", 0)) * int(info["steps_per_epoch"]),
        )
        self._session_start = time.monotonic()
        self._session_first_step = None
        self.update_status(
            state="running", device=self.device, started=now_iso(), started_at=time.time(), **self.progress
        )

    def on_step(self, info: dict[str, Any]) -> bool:
        step = int(info["step"])
        if self._session_first_step is None:
            self._session_first_step = step - 1
            self._session_start = time.monotonic()
        now = time.monotonic()
        self.progress.update(
            step=step, epoch=int(info["epoch"]), samples_per_second=info.get("samples_per_second")
        )
        if "restart" in info:  # crl.engine.restarts: which of the restarts is training
            self.progress.update(restart=int(info["restart"]), restart_count=int(info["restarts"]))
        if now - self._last_status >= STATUS_SECONDS:
            self._last_status = now
            done = step - self._session_first_step
            rate = done / max(now - self._session_start, 1e-9)
            eta = (self.total_steps - step) / rate if rate > 0 else None
            self.progress.update(eta_seconds=eta, steps_per_second=rate, **gpu_memory(self.device))
            self.update_status(losses=info.get("losses"), **self.progress)
        stop = self._agreed_stop()
        if stop and not self._stopping:
            self._stopping = True
            self.update_status(stopping=True)
        return stop

    def on_epoch(self, info: dict[str, Any]) -> bool:
        epoch = int(info["epoch"])
        stop = self._stopping or self._agreed_stop()
        self.progress.update(
            epoch=epoch + 1,
            step=int(info["step"]),
            validation_loss=info.get("validation_loss"),
            best_epoch=info.get("best_epoch"),
        )
        boundary = (epoch + 1) % self.checkpoint_every == 0
        if boundary and not self.epoch_checkpoints:
            self._last_checkpoint = time.monotonic()  # another callback (RunFolderCallback) saved this epoch
        due = (boundary and self.epoch_checkpoints) or (
            time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds
        )
        if (stop or due) and self.save_state is not None and "training_state" in info:
            self.save_state(info["training_state"]())
            self._last_checkpoint = time.monotonic()
            self.saved_step = int(info["step"])
            self.progress["checkpoint_step"] = self.saved_step
        self.update_status(**self.progress)
        if stop:
            self._stopping = True
        return stop

    @property
    def stopped(self) -> bool:
        return self._stopping


def gpu_memory(device: str) -> dict[str, float]:
    """Allocated, peak and total GPU memory in MiB on a CUDA device; {} elsewhere."""
    if not device.startswith("cuda"):
        return {}
    import torch

    dev = torch.device(device)
    return {
        "gpu_memory_mb": torch.cuda.memory_allocated(dev) / 2**20,
        "gpu_memory_peak_mb": torch.cuda.max_memory_allocated(dev) / 2**20,
        "gpu_memory_total_mb": torch.cuda.get_device_properties(dev).total_memory / 2**20,
    }


# ------------------------------------------------------------------------------------------ caller side


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
    """Create a run folder holding `job.json` (what to train) and a "queued" status; start_job's first half."""
    cohort_dir = Path(cohort_dir).resolve()
    if not cohort_dir.is_dir():
        raise RunError(f"cohort folder {cohort_dir} does not exist")
    if run_dir is not None:
        path = Path(run_dir)
        if path.exists() and any(path.iterdir()):
            raise RunError(f"{path} already exists and is not empty; choose a new run folder")
        path.mkdir(parents=True, exist_ok=True)
    else:
        path = new_run_dir(runs_root(runs_root_dir), name, stem=cohort_dir.name)
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
    atomic_write_json(path / JOB_FILE, spec)
    atomic_write_json(
        path / STATUS_FILE,
        {"state": "queued", "created": spec["created"], "device": device, "updated": now_iso()},
    )
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
    """Note the child's pid at once so the run is never ownerless (the child confirms it when it starts)."""
    status = read_json(run_dir / STATUS_FILE, {}) or {}
    if "pid" not in status:
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
    merged["resumable"] = merged["state"] in ("interrupted", "stopped", "failed") and (
        find_training_state(run_dir) is not None or (run_dir / JOB_FILE).exists()
    )
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
            return _settle(run_dir)
        pid = status.get("pid")
    elif status.get("pid") != pid:
        status = {
            **status,
            "pid": pid,
            "session_leader": False,
        }  # the run moved on; touch only the old process
    if status.get("pid") == pid and effective_state(status) in ACTIVE_STATES:
        (run_dir / STOP_FILE).write_text(str(time.time()))
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
    if not _wait_gone(status, grace / 2):
        _signal(status, signal.SIGTERM)
        if not _wait_gone(status, grace / 2):
            _signal(status, signal.SIGKILL)
            _wait_gone(status, 5.0)
    return _settle(run_dir, note="stopped on request")


def _settle(run_dir: Path, note: str = "the job's process ended without recording a final state") -> str:
    """Persist "stopped"/"interrupted" for a job whose process is gone but whose status still says active."""
    status = read_json(run_dir / STATUS_FILE, {}) or {}
    state = effective_state(status)
    if state == "interrupted" and status.get("state") in ACTIVE_STATES:
        final = "stopped" if (run_dir / STOP_FILE).exists() else "interrupted"
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
    if not (run_dir / JOB_FILE).exists():
        _job_from_run(run_dir)
    (run_dir / STOP_FILE).unlink(missing_ok=True)
    recorded = read_json(run_dir / STATUS_FILE, {}) or {}
    recorded.update(
        state="queued", error=None, updated=now_iso(), resumes=int(recorded.get("resumes", 0)) + 1
    )
    for key in ("pid", "host", "boot_id", "session_leader", "stopping"):
        recorded.pop(key, None)
    atomic_write_json(run_dir / STATUS_FILE, recorded)
    if background:
        spec = read_json(run_dir / JOB_FILE, {}) or {}
        pid = _spawn(run_dir, threads=threads, gpus=int(spec.get("gpus") or 0))
        _record_launcher(run_dir, pid)
    else:
        code = run_job(run_dir, queue=False, foreground=True)
        if code != 0:
            raise RunError(job_status(run_dir).get("error") or f"resuming {run_dir} failed")
    return run_dir


def _job_from_run(run_dir: Path) -> None:
    """Write job.json for a run started by plain `crl train` (its config.json records cohort and configuration)."""
    from crl.runs.folder import recorded_cohort_path

    config = read_json(run_dir / "config.json", {}) or {}
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


# ------------------------------------------------------------------------------------------ checkpoints


def find_training_state(run_dir: Path) -> Path | None:
    """The run's resumable training-state file, or None."""
    from crl.runs.registry import TRAINING_STATE_FILE

    path = Path(run_dir) / TRAINING_STATE_FILE
    return path if path.is_file() else None


def trim_metrics(run_dir: Path, last_step: int) -> int:
    """Drop metrics rows logged after the checkpoint being resumed from, so resumed curves have no repeats.

    Rewritten atomically; returns the number of rows kept.
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return 0
    rows = [row for row in read_jsonl(path) if int(row.get("step", -1)) <= last_step]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(_dumps(row))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return len(rows)


def _dumps(row: dict[str, Any]) -> str:
    import json

    return json.dumps(row) + "\n"


# ------------------------------------------------------------------------------------------ training


def job_config(spec: dict[str, Any], cohort: Any, device: str) -> Any:
    """The job's configuration: cohort defaults, then its config (dict) or config file, then overrides, device,
    seed; checked against the cohort."""
    from crl.config import apply_overrides, check_schema, merge_dict, resolve_config

    config = resolve_config(cohort.schema(), spec.get("config_file"), [], None, None)
    if spec.get("config"):
        data = spec["config"]
        data = data.get("config", data) if isinstance(data.get("config"), dict) else data
        config = merge_dict(config, data)
    extra = list(spec.get("overrides") or [])
    extra.append(f"train.device={device}")
    if spec.get("seed") is not None:
        extra.append(f"train.seed={int(spec['seed'])}")
    config = apply_overrides(config, extra)
    check_schema(config, cohort.schema())
    return config


def oom_message(config: Any, device: str) -> str:
    """What to say when CUDA runs out of memory: the batch size, a smaller one, and the alternatives."""
    batch = config.train.batch_size
    return (
        f"the GPU ({device}) ran out of memory at batch size {batch}; try a smaller batch "
        f"(--set train.batch_size={max(1, batch // 2)}), smaller encoders, or --device cpu"
    )


def _train(run_dir: Path, spec: dict[str, Any], device: str, control: JobControl) -> None:
    """Train (or resume) the job's run in this process; under torchrun rank 0 writes the files."""
    import torch

    from crl.core.model import build_model
    from crl.data.load import load_cohort
    from crl.engine import distributed
    from crl.engine.fit import encode_cohort, latent_table
    from crl.engine.restarts import fit_restarts, overall_position
    from crl.errors import TrainingError
    from crl.runs.checkpoint import load_training_state, save_model, save_training_state
    from crl.runs.folder import RunFolder, RunFolderCallback

    context = distributed.current()
    if context is not None:
        device = str(context.device)
    main = distributed.is_main_process()
    cohort = load_cohort(Path(spec["cohort"]))
    config = job_config(spec, cohort, device)
    state_file = find_training_state(run_dir)
    resume = load_training_state(state_file) if state_file is not None else None
    run = RunFolder(run_dir)
    if main:
        if resume is None:
            run.start(config, cohort, device=device)
        else:
            step, epoch = overall_position(resume)
            trim_metrics(run_dir, step)
            control.update_status(resumed_from_step=step, resumed_from_epoch=epoch)
        if context is not None:
            control.update_status(world_size=context.world_size, backend=context.backend)
    control.save_state = (lambda state: save_training_state(run_dir, state)) if main else None
    control.checkpoint_every = config.train.checkpoint_every
    control.epoch_checkpoints = False  # RunFolderCallback (rank 0) saves every checkpoint_every epochs
    callbacks = [RunFolderCallback(run, cohort, config), control] if main else [control]
    try:
        result = fit_restarts(
            lambda own: distributed.prepare(build_model(own, cohort.schema()), context),
            cohort,
            config,
            callbacks=callbacks,
            resume=resume,
        )
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(oom_message(config, device)) from None
    if not main:
        return
    model = result.model
    latents = encode_cohort(model, cohort, result.normaliser)
    run.write_latents(latent_table(model, cohort, latents))
    run.write_graph(model.latent_names, model.strengths())
    save_model(run.path, model, config, result.normaliser, cohort)
    if control.stopped or result.stopped_by_callback:
        control.close()
        control.update_status(state="stopped", error=None, stopping=None, ended_at=time.time())
        return
    weights = spec.get("sparsity_path") or []
    if weights:
        from crl.runs.sparsity_path import fit_path

        control.update_status(phase="sparsity path")
        control.save_state = None  # training_state.pt stays the main training's, for resume
        fit_path(
            model,
            cohort,
            config,
            weights,
            run_dir,
            epochs=spec.get("path_epochs"),
            callbacks=[control],
            skip_fitted=True,
        )
        if control.stopped:
            control.close()
            control.update_status(state="stopped", error=None, stopping=None, ended_at=time.time())
            return
    control.close()
    control.update_status(eta_seconds=0.0, ended_at=time.time(), phase=None)
    run.finish(result)


def _refit(
    run_dir: Path, spec: dict[str, Any], refit: dict[str, Any], device: str, control: JobControl
) -> None:
    """Refit a finished run at new sparsity weights, warm-started from its saved model."""
    from crl.data.load import load_cohort
    from crl.engine.device import resolve_device
    from crl.runs.checkpoint import load_model
    from crl.runs.sparsity_path import fit_path

    cohort = load_cohort(Path(spec["cohort"]))
    # A foreground refit takes no queue slot, so "auto" arrives here unresolved.
    model, config = load_model(run_dir, device=resolve_device(device))[:2]
    config = _with_device(config, device)
    control.update_status(phase="sparsity path")
    fit_path(
        model,
        cohort,
        config,
        refit["weights"],
        run_dir,
        epochs=refit.get("epochs"),
        callbacks=[control],
        warm_from="run",
    )
    control.close()
    (run_dir / REFIT_FILE).unlink(missing_ok=True)
    control.update_status(state="stopped" if control.stopped else "done", phase=None, error=None)


def _with_device(config: Any, device: str) -> Any:
    import dataclasses

    return dataclasses.replace(config, train=dataclasses.replace(config.train, device=device))


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
    if not (run_dir / "graph.csv").exists():
        raise RunError(f"run '{run_dir.name}' has no trained model yet; finish or resume it first")
    if not weights:
        raise RunError("give at least one sparsity weight to refit at")
    if not (run_dir / JOB_FILE).exists():
        _job_from_run(run_dir)
    atomic_write_json(run_dir / REFIT_FILE, {"weights": [float(w) for w in weights], "epochs": epochs})
    (run_dir / STOP_FILE).unlink(missing_ok=True)
    recorded = read_json(run_dir / STATUS_FILE, {}) or {}
    recorded.update(state="queued", phase="sparsity path", updated=now_iso())
    atomic_write_json(run_dir / STATUS_FILE, recorded)
    if background:
        pid = _spawn(run_dir, ["--refit"], threads=threads)
        _record_launcher(run_dir, pid)
    else:
        run_job(run_dir, queue=False, foreground=True, refit_only=True)
    return run_dir


# ------------------------------------------------------------------------------------------ the job process


def run_job(run_dir: Path, queue: bool = True, foreground: bool = False, refit_only: bool = False) -> int:
    """Body of `python -m crl.jobs RUN_DIR`: wait for a slot, train (or resume, or refit), record the outcome."""
    from crl.engine import distributed

    run_dir = Path(run_dir)
    spec = read_json(run_dir / JOB_FILE, None)
    if not isinstance(spec, dict):
        raise RunError(f"{run_dir} has no readable {JOB_FILE}; it was not started as a job")
    apply_thread_env()
    context = distributed.init(spec.get("device") or "auto")
    main = distributed.is_main_process()
    control = JobControl(run_dir, writes_files=main)
    control.begin(state="queued" if queue else "running", handle_sigint=foreground)
    slot = None
    try:
        device = spec.get("device") or "auto"
        if queue and context is None:
            slot = acquire_slot(
                device,
                control.stop_requested,
                on_wait=lambda ahead: control.update_status(state="queued", queue_position=ahead),
                configured=spec.get("max_jobs"),
            )
            if slot is None:
                control.close()
                control.update_status(state="stopped", error="stopped while waiting in the queue")
                return 0
            if device in ("auto", "cuda"):
                device = slot.device
        control.update_status(state="running", queue_position=None)
        refit = read_json(run_dir / REFIT_FILE, None) if refit_only else None
        if refit is not None:
            _refit(run_dir, spec, refit, device, control)
        else:
            _train(run_dir, spec, device, control)
        return 0
    except CrlError as error:
        control.close()
        control.update_status(state="failed", error=str(error))
        if foreground:
            raise
        print(f"crl job: {error}", file=sys.stderr)
        return 1
    except BaseException as error:
        control.close()
        if isinstance(error, KeyboardInterrupt | SystemExit):
            control.update_status(state="stopped", error="interrupted by a signal before a checkpoint")
        else:
            control.update_status(state="failed", error=f"internal error: {type(error).__name__}: {error}")
        raise
    finally:
        control.close()
        if slot is not None:
            slot.release()
        distributed.shutdown()


# ------------------------------------------------------------------------------------------ command line


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


def train_job_cli(args: Any) -> int:
    """`crl train … --background | --gpus N | --sparsity-path W,…`: the job path of `crl train`."""
    options = dict(
        config_file=args.config,
        overrides=list(args.set or []),
        device=args.device or "auto",
        seed=args.seed,
        sparsity_path=parse_weights(getattr(args, "sparsity_path", None)),
        path_epochs=getattr(args, "path_epochs", None),
        gpus=int(getattr(args, "gpus", 0) or 0),
        run_dir=args.out,
    )
    if args.background:
        run = start_job(args.dir, **options)
        print(
            f"started {run} (queued); follow it with `crl runs status {run}`, stop it with `crl runs stop {run}`"
        )
        return 0
    run = prepare_job(args.dir, **options)
    if options["gpus"] > 1:
        from crl.engine.distributed import launch

        code = launch(options["gpus"], ["crl.jobs", str(run.resolve()), "--no-queue"])
        _settle(run)
        if code != 0:
            raise RunError(job_status(run).get("error") or f"distributed training exited with code {code}")
        return 0
    run_job(run, queue=False, foreground=True)
    return _exit_code(run)


def _exit_code(run: Path) -> int:
    state = job_status(run)["state"]
    if state == "stopped":
        print(f"stopped; resume with `crl runs resume {run}`", file=sys.stderr)
    return 0 if state in ("done", "stopped") else 1


def _format_time(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else ""


def runs_cli(args: Any) -> int:
    """`crl runs list | status | stop | resume | refit | rename | delete`."""
    import json

    from crl.runs.registry import delete_run, list_runs, rename_run, resolve_run

    command = args.runs_command
    if command == "list":
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
    run = resolve_run(args.run, args.root)
    if command == "status":
        status = job_status(run)
        if args.json:
            print(json.dumps(status, indent=1, default=str))
        else:
            for key in (
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
            ):
                if status.get(key) is not None:
                    print(f"{key}: {status[key]}")
            for r in (
                status.get("restarts") or []
            ):  # crl.engine.restarts: every restart's best validation loss
                kept = " (kept)" if r.get("restart") == status.get("kept_restart") else ""
                loss = f"best validation loss {r['best_validation_loss']:.6g}"
                print(f"restart {r['restart']} (seed {r['seed']}): {loss}{kept}")
        return 0
    if command == "stop":
        print(f"{run.name}: {stop_job(run, grace=args.grace)}")
        return 0
    if command == "resume":
        resume_job(run, background=args.background)
        if args.background:
            print(f"resuming {run} in the background")
            return 0
        return _exit_code(run)
    if command == "refit":
        refit_job(run, parse_weights(args.sparsity), epochs=args.epochs, background=args.background)
        if args.background:
            print(f"refitting {run} in the background")
            return 0
        return _exit_code(run)
    if command == "rename":
        print(f"renamed to {rename_run(run, args.new_name)}")
        return 0
    if command == "delete":
        if not args.yes:
            answer = input(f"delete {run} and everything in it? [y/N] ") if sys.stdin.isatty() else ""
            if answer.strip().lower() not in ("y", "yes"):
                print("not deleted (pass --yes to skip this question)", file=sys.stderr)
                return 1
        delete_run(run)
        print(f"deleted {run}")
        return 0
    raise RunError(f"unknown runs command '{command}'")


def terminal_control(run_dir: Path) -> JobControl:
    """JobControl for a plain `crl train` in a terminal: owner record and heartbeat (so a kill is detected),
    Ctrl-C or SIGTERM stops after the current step with a checkpoint, a checkpoint at least every minute;
    honours $CRL_THREADS. The caller closes it."""
    from crl.runs.checkpoint import save_training_state

    apply_thread_env()
    control = JobControl(
        run_dir,
        save_state=lambda state: save_training_state(run_dir, state),
        epoch_checkpoints=False,  # RunFolderCallback saves every checkpoint_every epochs
    )
    control.begin(state="running", handle_sigint=True)
    return control


def train_distributed_cli(args: Any) -> int:
    """`crl train` started by torchrun (e.g. on several machines): every rank joins the process group, rank 0
    creates the run folder with its job.json, then every rank trains it (DDP) with rank 0 writing."""
    from crl.engine import distributed

    context = distributed.init(args.device or "auto")
    run = Path(args.out)
    failed = ""
    if context is None or context.is_main:
        try:
            prepare_job(
                args.dir,
                config_file=args.config,
                overrides=list(args.set or []),
                device=args.device or "auto",
                seed=args.seed,
                run_dir=run,
            )
        except CrlError as error:
            failed = str(error)
    if distributed.any_rank(bool(failed), context):
        distributed.shutdown()
        raise RunError(failed or "rank 0 could not create the run folder")
    code = run_job(run, queue=False)
    if code != 0:
        raise RunError(read_json(run / STATUS_FILE, {}).get("error") or "distributed training failed")
    return 0


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
    parser.add_argument("--gpus", type=int, default=0, help="queue for N slots, then run under torchrun")
    args = parser.parse_args(argv)
    if args.stop:
        stop_job(Path(args.run_dir), grace=args.grace, wait=True, pid=args.pid)
        return 0
    from crl.engine.distributed import under_torchrun

    if args.gpus > 1 and not under_torchrun():
        return launch_distributed_job(Path(args.run_dir), args.gpus)
    return run_job(
        Path(args.run_dir), queue=not args.no_queue, foreground=args.foreground, refit_only=args.refit
    )
