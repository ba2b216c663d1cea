"""Run-folder file names and the atomic writes and tolerant reads every run file goes through.

A reader polling a run folder (the dashboard, a job monitor) never sees half a file: JSON and CSV are written to
a temporary file in the same folder and renamed over the old one; metrics.jsonl is append-only, a line at a time.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
LATENTS_FILE = "latents.csv"
GRAPH_FILE = "graph.csv"
# A file of this name in the run folder asks the training process to stop after the current epoch.
STOP_FILE = "STOP"
STATES = ("queued", "running", "done", "failed", "stopped")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see either the old or the new file, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    """Atomic JSON write; numpy scalars/arrays and paths are converted; NaN/inf become null."""
    atomic_write_text(path, json.dumps(_finite(data), indent=2, default=_json_default) + "\n")


def _finite(value: Any) -> Any:
    """Replace NaN/inf floats by None so the file stays strict JSON."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def package_versions() -> dict[str, str]:
    """Versions that decide whether a run can be reproduced."""
    import numpy
    import pandas
    import torch

    import crl

    return {
        "crl": crl.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
    }


def read_json(path: Path, default: Any = None) -> Any:
    """The file's JSON, or `default` when it is missing or unreadable (a run folder may be mid-creation)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return default


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Append one JSON line in a single write, so a kill leaves at most one partial trailing line."""
    line = json.dumps(_finite(row), default=_json_default) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON object line; a partial last line (a kill mid-append) is skipped."""
    rows = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


# Files of a background job (crl.jobs), in the run folder next to the files above.
JOB_FILE = "job.json"  # what to train: cohort, configuration, device, sparsity path
REFIT_FILE = "refit.json"  # a pending refit of a finished run at new sparsity weights
HEARTBEAT_FILE = "heartbeat.json"  # the job process's latest sign of life and progress
LOG_FILE = "log.txt"  # the detached job process's stdout and stderr
