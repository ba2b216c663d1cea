"""The run registry: run folders under one root, their live state (with dead-job detection), rename and delete."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crl.errors import RunError
from crl.runs.files import (
    CONFIG_FILE,
    GRAPH_FILE,
    JOB_FILE,
    METRICS_FILE,
    STATUS_FILE,
    TRAINING_STATE_FILE,
    read_json,
)
from crl.runs.folder import recorded_cohort_path
from crl.runs.sparsity_path import INDEX_FILE, PATH_DIR
from crl.runs.storage import storage_error

DEFAULT_ROOT = Path("runs")
ACTIVE_STATES = ("queued", "running")
# A job refreshes its heartbeat every couple of seconds; one silent for this long is taken for dead (a process
# on another machine, or this machine rebooted), so no run stays "running" forever.
STALE_SECONDS = 30.0
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,119}$")
# While a refit runs, status.json keeps the main training's progress and outcome under this key (crl.jobs).
MAIN_TRAINING = "training"
RESUMABLE_STATES = ("interrupted", "stopped", "failed")


# ------------------------------------------------------------------------------------------ liveness


def boot_id() -> str:
    """Changes at every boot of this machine: a job recorded under another boot id cannot be alive."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists on this machine (and is not a zombie)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def owner_record() -> dict[str, Any]:
    """What identifies the current process as a run's owner: pid, host, boot id."""
    return {"pid": os.getpid(), "host": host(), "boot_id": boot_id()}


def owner_alive(status: dict[str, Any], now: float | None = None) -> bool:
    """Whether the process recorded in `status` can still be working on the run.

    On this machine (same host and boot) the process table decides; elsewhere only the heartbeat's age can.
    `status` may carry `heartbeat` (seconds since the epoch) merged in from heartbeat.json.
    """
    now = time.time() if now is None else now
    pid = status.get("pid")
    heartbeat = status.get("heartbeat")
    # A status without a host comes from a plain `crl train`, which records only its pid: judge it locally.
    if status.get("host", host()) == host() and isinstance(pid, int):
        if status.get("boot_id") and status.get("boot_id") != boot_id():
            return False
        return pid_alive(pid)
    if isinstance(heartbeat, (int, float)):
        return now - heartbeat < STALE_SECONDS
    return False


def effective_state(status: dict[str, Any], now: float | None = None) -> str:
    """The recorded state, except that a queued or running job whose process is gone reads "interrupted"."""
    state = str(status.get("state", "unknown"))
    if state in ACTIVE_STATES and not owner_alive(status, now):
        return "interrupted"
    return state


# ------------------------------------------------------------------------------------------ the registry


def runs_root(root: Path | str | None = None) -> Path:
    """The registry folder: `root` when given (e.g. from the app's settings), else $CRL_RUNS, else ./runs."""
    if root is not None:
        return Path(root)
    env = os.environ.get("CRL_RUNS")
    return Path(env) if env else DEFAULT_ROOT


def is_run(path: Path) -> bool:
    """A run folder has a status.json or a config.json; hidden folders (the job queue) never are."""
    path = Path(path)
    return (
        path.is_dir()
        and not path.name.startswith(".")
        and ((path / STATUS_FILE).exists() or (path / CONFIG_FILE).exists())
    )


@dataclass
class RunInfo:
    """One line of the registry: what a run list shows without loading any model."""

    name: str
    path: Path
    state: str
    cohort: str = ""
    created: float | None = None
    device: str = ""
    step: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    best_validation_loss: float | None = None
    error: str = ""
    resumable: bool = False
    sparsity_levels: int = 0
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def _cohort_name(run: Path, config: dict[str, Any], job: dict[str, Any]) -> str:
    path = recorded_cohort_path(run, config if isinstance(config, dict) else {}) or job.get("cohort")
    return Path(str(path)).name if path else ""


def _last_metrics(path: Path) -> dict[str, float]:
    """The last logged row's numeric values (reads only the file's tail: metrics files grow long)."""
    file = path / METRICS_FILE
    try:
        with open(file, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 65536))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            return {
                k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
    return {}


def has_checkpoint(path: Path) -> bool:
    """Whether a run folder holds a training state to resume from."""
    return (Path(path) / TRAINING_STATE_FILE).is_file()


def can_resume(path: Path, state: str, config: dict[str, Any] | None = None) -> bool:
    """Whether `crl runs resume` can continue this run: it ended early and there is a checkpoint to continue
    from, a job.json saying what to train, or a config.json naming a cohort folder that exists (then it starts
    over). `crl runs list` marks exactly these runs."""
    path = Path(path)
    if state not in RESUMABLE_STATES:
        return False
    if has_checkpoint(path) or (path / JOB_FILE).is_file():
        return True
    cohort = recorded_cohort_path(path, config)
    return cohort is not None and cohort.is_dir()


def timestamp(value: Any) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 string (run_folder writes the latter)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def run_info(path: Path, now: float | None = None) -> RunInfo:
    """Summarise one run folder (missing files give empty fields, never an error)."""
    path = Path(path)
    status = read_json(path / STATUS_FILE, {}) or {}
    config = read_json(path / CONFIG_FILE, {}) or {}
    job = read_json(path / JOB_FILE, {}) or {}
    state = (
        effective_state(status, now) if status else ("done" if (path / GRAPH_FILE).exists() else "unknown")
    )
    last = _last_metrics(path)
    created = timestamp(status.get("created") or job.get("created") or status.get("started"))
    if created is None:
        created = timestamp(config.get("created"))
    if created is None:
        try:
            created = path.stat().st_mtime
        except OSError:
            created = None
    index = read_json(path / PATH_DIR / INDEX_FILE, {}) or {}
    levels = index.get("levels", []) if isinstance(index, dict) else index
    if isinstance(
        status.get(MAIN_TRAINING), dict
    ):  # a refit is running: show the training that made the model
        status = {**status, **status[MAIN_TRAINING]}
    best = status.get("best_validation_loss")
    progress = (
        status.get("progress") if isinstance(status.get("progress"), dict) else {}
    )  # run_folder's nesting
    return RunInfo(
        name=path.name,
        path=path,
        state=state,
        cohort=_cohort_name(path, config, job),
        created=created,
        device=str(status.get("device") or config.get("device") or ""),
        step=status.get("step", progress.get("step", last.get("step"))),
        epoch=status.get("epoch", progress.get("epoch", last.get("epoch"))),
        epochs=status.get("epochs", progress.get("epochs")),
        best_validation_loss=best if isinstance(best, (int, float)) else last.get("validation_loss"),
        error=str(status.get("error") or ""),
        resumable=can_resume(path, state, config if isinstance(config, dict) else {}),
        sparsity_levels=len(levels) if isinstance(levels, list) else 0,
        metrics=last,
    )


def list_runs(root: Path | str | None = None, now: float | None = None) -> list[RunInfo]:
    """Every run folder directly under the registry root, newest first; [] when the root does not exist."""
    base = runs_root(root)
    if not base.is_dir():
        return []
    infos = [run_info(p, now) for p in base.iterdir() if is_run(p)]
    return sorted(infos, key=lambda info: (info.created or 0.0, info.name), reverse=True)


def resolve_run(run: Path | str, root: Path | str | None = None) -> Path:
    """A run given as a folder path or as a name under the registry root; RunError when neither exists."""
    candidate = Path(run)
    if is_run(candidate):
        return candidate
    named = runs_root(root) / str(run)
    if is_run(named):
        return named
    raise RunError(
        f"no run folder '{run}' (looked at {candidate} and {named}); `crl runs list` shows the runs"
    )


def check_name(name: str) -> str:
    """A run name usable as a folder on every OS: letters, digits and . _ + - (no leading dot, no slashes)."""
    if not NAME_PATTERN.match(name or ""):
        raise RunError(
            f"'{name}' cannot name a run: use 1 to 120 letters, digits, '.', '_', '+' or '-', "
            "starting with a letter or digit"
        )
    return name


def new_run_dir(root: Path | str | None = None, name: str | None = None, stem: str = "run") -> Path:
    """Create and return a fresh, empty run folder; without a name, `<stem>-<date>-<time>` made unique."""
    base = runs_root(root)
    base.mkdir(parents=True, exist_ok=True)
    if name is not None:
        path = base / check_name(name)
        try:
            path.mkdir()
        except FileExistsError:
            raise RunError(f"a run named '{name}' already exists in {base}; choose another name") from None
        return path
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "-", stem).strip("-.") or "run"
    base_name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    for k in range(1000):
        path = base / (base_name if k == 0 else f"{base_name}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunError(f"cannot create a new run folder in {base}")


def _refuse_if_active(path: Path, action: str) -> None:
    status = read_json(path / STATUS_FILE, {}) or {}
    if effective_state(status) in ACTIVE_STATES:
        raise RunError(
            f"run '{path.name}' is {status.get('state')}; stop it first (`crl runs stop {path.name}`)"
        )


def rename_run(run: Path | str, new_name: str) -> Path:
    """Rename a run folder in place (not while its job is queued or running); returns the new path."""
    path = Path(run)
    if not is_run(path):
        raise RunError(f"{path} is not a run folder")
    _refuse_if_active(path, "rename")
    target = path.parent / check_name(new_name)
    if target.exists():
        raise RunError(f"a run named '{new_name}' already exists in {path.parent}; choose another name")
    try:
        path.rename(target)
    except OSError as error:
        raise storage_error(
            error, f"run '{path.name}' was not renamed; make {path.parent} writable to rename it"
        ) from None
    return target


def _unwritable(path: Path) -> Path | None:
    """The first folder a deletion would need to change but may not (the runs folder, the run or one inside)."""
    for folder in [path.parent, path, *(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink())]:
        if not os.access(folder, os.W_OK):
            return folder
    return None


def delete_run(run: Path | str) -> None:
    """Delete a run folder and everything in it (not while its job is queued or running).

    A folder that may not be changed is found before anything is deleted, so a refusal deletes nothing."""
    path = Path(run)
    if not is_run(path):
        raise RunError(f"{path} is not a run folder; nothing deleted")
    _refuse_if_active(path, "delete")
    blocked = _unwritable(path)
    if blocked is not None:
        raise RunError(
            f"{blocked} is read-only or belongs to another user, so run '{path.name}' cannot be deleted; "
            "nothing was deleted. Make it writable first"
        )
    try:
        shutil.rmtree(path)
    except OSError as error:
        raise storage_error(
            error, f"deleting run '{path.name}' stopped part way; delete {path} by hand"
        ) from None
