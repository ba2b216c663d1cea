"""Run-folder file names and the atomic writes and tolerant reads every run file goes through.

A reader polling a run folder (the dashboard, a job monitor) never sees half a file: JSON, CSV and tensor files
are written to a temporary file in the same folder and renamed over the old one; metrics.jsonl is append-only, a
line at a time. No other module writes a run file its own way.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
LATENTS_FILE = "latents.csv"
# latents.csv's column listing, per subject, the modalities whose latents were inferred rather than encoded
# (';'-separated, empty for a complete subject); written only when some subject lacks a modality.
INFERRED_COLUMN = "inferred"
DRIVERS_FILE = (
    "drivers.json"  # each latent's most correlated observed features, for hover text without the cohort
)
ETA_FILE = "eta.csv"  # posterior means of the modality-specific dimensions, for decoding without re-encoding
GRAPH_FILE = "graph.csv"
# The run's scores against its cohort's truth at the recorded threshold, when the cohort has one (synthetic).
EVALUATION_FILE = "evaluation.json"
# The user's display names for latents (crl.analysis.names); never written by training.
NAMES_FILE = "names.json"
# The trained model (crl.runs.checkpoint): weights, what rebuilds them, and the state training resumes from.
MODEL_FILE = "model.pt"
MODEL_META_FILE = "model.json"
TRAINING_STATE_FILE = "training_state.pt"
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


def atomic_write(path: Path, write: Callable[[Path], None], *, make_parents: bool = True) -> None:
    """Let `write(tmp)` fill a temporary file beside `path`, then rename it over `path` (e.g. for torch.save).

    The temporary file is removed when `write` fails, so a failed write leaves the old file untouched. Missing
    parent folders are created unless `make_parents` is False (then a missing folder is a FileNotFoundError).
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise _naming(error, path) from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.errno is not None and error.filename in (None, tmp):
            raise _naming(error, path) from None
        raise


def _naming(error: OSError, path: Path) -> OSError:
    """The same error about the file being written, not its temporary name (a message names what the user knows)."""
    return type(error)(error.errno, error.strerror, str(path))


def atomic_write_bytes(path: Path, data: bytes, *, make_parents: bool = True) -> None:
    """Write `data` to `path` so readers see either the old or the new file, never a partial one."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(path, write, make_parents=make_parents)


def atomic_write_text(path: Path, text: str, *, make_parents: bool = True) -> None:
    """Write `text` (UTF-8) to `path` so readers see either the old or the new file, never a partial one."""
    atomic_write_bytes(path, text.encode("utf-8"), make_parents=make_parents)


def atomic_write_csv(path: Path, table: Any) -> None:
    """A pandas DataFrame as CSV without its index (latents.csv), written atomically."""
    atomic_write_text(path, table.to_csv(index=False))


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save(obj) to `path`, atomically (checkpoints are large: a kill mid-save must not corrupt one)."""
    import torch  # here, so listing runs does not import torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


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


def read_jsonl(path: Path, errors: str = "strict") -> list[dict[str, Any]]:
    """Every complete JSON object line; a partial last line (a kill mid-append) is skipped.

    `errors="replace"` reads a file with damaged bytes too (the dashboard shows what it can).
    """
    rows = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors=errors)
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

# How far the run can be believed (crl.runs.confidence): one folder per restart with its own latents.csv and
# graph.csv, and the agreement between them.
RESTARTS_DIR = "restarts"  # restarts/<k>/: restart k's latents.csv, graph.csv and summary.json
EDGE_CONFIDENCE_FILE = "edge_confidence.csv"  # source,target,frequency,effect
LATENT_STABILITY_FILE = "latent_stability.csv"  # latent,stability
