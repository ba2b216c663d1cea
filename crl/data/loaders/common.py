"""What every loader shares: the result tuple, the problem collector, ID normalisation, the regular-file rule
and the wording of problem messages (lists, plurals)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from crl.data.manifest import Problem
from crl.errors import CohortError

MAX_LISTED = 5


class Loaded(NamedTuple):
    """subject_ids (N,) str; data: tabular (N, F) float32, timeseries (N, C, T) float32, image (N, H, W, C) uint8."""

    subject_ids: np.ndarray
    data: np.ndarray
    feature_names: list[str]


class LoadError(CohortError):
    """A source cannot be loaded; `problems` says why (each with a fix)."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(p.line() for p in problems), None)
        self.problems = problems


class Found:
    """Collects problems; hands them to the caller's list, or raises when the caller gave none and one is an error."""

    def __init__(self, path: Path, sink: list[Problem] | None):
        self.path, self.sink, self.items = path, sink, []

    def add(self, severity: str, check: str, message: str, fix: str = "", **where) -> None:
        where.setdefault("file", str(self.path))
        self.items.append(Problem(severity, check, message, fix, **where))

    def fatal(self, check: str, message: str, fix: str = "", **where) -> LoadError:
        """Record an error that leaves nothing to return; raise the result."""
        self.add("error", check, message, fix, **where)
        errors = [p for p in self.items if p.severity == "error"]
        self.flush()
        return LoadError(errors)

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.extend(self.items)
        elif any(p.severity == "error" for p in self.items):
            raise LoadError([p for p in self.items if p.severity == "error"])
        self.items = []


def listing(items, limit: int = MAX_LISTED) -> str:
    """`a, b, c and 7 more`: enough to find the rows without flooding a terminal."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 subject`, `3 subjects`."""
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


def verb(count: int, one: str, many: str) -> str:
    """The verb form agreeing with `count` (`has` / `have`)."""
    return one if count == 1 else many


def as_str_ids(values) -> np.ndarray:
    """Subject IDs as a numpy str array, whitespace stripped (IDs are compared as text).

    Whole-number floats (a parquet column of IDs that once held a missing value) become "12", not "12.0",
    so they match the same IDs written as integers or text elsewhere.
    """
    series = pd.Series(values)
    if pd.api.types.is_float_dtype(series):
        numbers = series.to_numpy(dtype=np.float64)
        if np.isfinite(numbers).all() and (numbers == np.round(numbers)).all():
            series = pd.Series(numbers.astype(np.int64))
    return np.char.strip(np.asarray(series.astype(str).to_numpy(), dtype=str))


_SPECIAL = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)
SPECIAL_FILE_FIX = (
    "replace it with the data file itself (a symbolic link is fine when it points to a regular file)."
)


def special_file(path: Path, folder_ok: bool = False) -> str | None:
    """Why `path` must not be opened, or None for a regular file (or, with folder_ok, a folder).

    Only regular files are read: a named pipe never answers (reading hangs) and a device such as /dev/zero never
    ends (reading fills memory). Symbolic links are followed, so a link may point anywhere as long as it ends at
    a regular file. A path that cannot be looked up gives None: opening it reports why.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return None
    what = next((name for test, name in _SPECIAL if test(mode)), "not a regular file")
    if Path(path).is_symlink():
        return f"links to {os.path.realpath(path)}, {what}, not to a regular file"
    return f"is {what}, not a regular file"


def require_regular(path: Path, found: Found, folder_ok: bool = False) -> None:
    """Raise (through `found`) a `special_file` problem when `path` is not a regular file (or folder)."""
    reason = special_file(path, folder_ok)
    if reason:
        raise found.fatal(
            "special_file",
            f"{path} {reason}: only regular files{' and folders of them' if folder_ok else ''} are read.",
            SPECIAL_FILE_FIX,
        )
