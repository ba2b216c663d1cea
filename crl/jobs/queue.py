"""The slot queue: at most one job per GPU (one on CPU unless configured), first come first served, per machine.

A slot is an exclusive flock on a file in the queue folder, so the kernel frees it when its process dies (even
kill -9); the waiting line is a folder of one file per waiting process, oldest first.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crl.runs.files import atomic_write_json, read_json
from crl.runs.registry import STALE_SECONDS, owner_alive, owner_record

QUEUE_POLL_SECONDS = 0.5


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
