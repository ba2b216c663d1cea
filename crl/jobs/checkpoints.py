"""Where a job resumes from: the run's training-state file, and its metrics log cut back to that point."""

from __future__ import annotations

import json
from pathlib import Path

from crl.runs.files import METRICS_FILE, TRAINING_STATE_FILE, atomic_write_text, read_jsonl


def find_training_state(run_dir: Path) -> Path | None:
    """The run's resumable training-state file, or None."""
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
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
    return len(rows)
