"""The job process's side of a job: owner record, heartbeat, live progress in status.json, stop requests.

A stop request is the run folder's stop file, SIGTERM, or Ctrl-C in a terminal; training then ends at the next
step and saves a checkpoint, so the run can be resumed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crl.jobs.threads import apply_thread_env
from crl.runs.files import HEARTBEAT_FILE, STATUS_FILE, STOP_FILE, atomic_write_json, now_iso, read_json
from crl.runs.registry import owner_record

HEARTBEAT_SECONDS = 2.0
STATUS_SECONDS = 1.0
CHECKPOINT_SECONDS = 60.0
# An ETA needs a measured speed: the clock starts when the session's first step has ended, and the rate is
# taken over at least this many timed steps after it (counting that first, untimed step made the rate
# near-infinite, so a refit's ETA said "0 s left" at 8 %).
ETA_MIN_STEPS = 3


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
            try:
                self.write_heartbeat()
            except OSError:
                pass  # a full disk: training notices at its own next write and says so; no thread traceback

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
            eta_seconds=None,  # measured afresh for each fit (each level of a sparsity path)
            steps_per_second=None,
        )
        self._session_start = time.monotonic()
        self._session_first_step = None
        self.update_status(
            state="running", device=self.device, started=now_iso(), started_at=time.time(), **self.progress
        )

    def on_step(self, info: dict[str, Any]) -> bool:
        step = int(info["step"])
        if self._session_first_step is None:  # the clock starts now: steps from here on are timed
            self._session_first_step = step
            self._session_start = time.monotonic()
        now = time.monotonic()
        self.progress.update(
            step=step, epoch=int(info["epoch"]), samples_per_second=info.get("samples_per_second")
        )
        if "restart" in info:  # crl.engine.restarts: which of the restarts is training
            self.progress.update(restart=int(info["restart"]), restart_count=int(info["restarts"]))
        if now - self._last_status >= STATUS_SECONDS:
            self._last_status = now
            self._measure(step, now)
            self.progress.update(**gpu_memory(self.device))
            self.update_status(losses=info.get("losses"), **self.progress)
        stop = self._agreed_stop()
        if stop and not self._stopping:
            self._stopping = True
            self.update_status(stopping=True)
        return stop

    def _measure(self, step: int, now: float) -> None:
        """Speed and ETA from the steps timed in this session; None until ETA_MIN_STEPS have been."""
        done = step - (self._session_first_step if self._session_first_step is not None else step)
        elapsed = now - self._session_start
        rate = done / elapsed if done >= ETA_MIN_STEPS and elapsed > 0 else None
        eta = max(self.total_steps - step, 0) / rate if rate else None
        self.progress.update(eta_seconds=eta, steps_per_second=rate)

    def on_epoch(self, info: dict[str, Any]) -> bool:
        epoch = int(info["epoch"])
        stop = self._stopping or self._agreed_stop()
        self._measure(int(info["step"]), time.monotonic())
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
