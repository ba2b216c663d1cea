"""`Run`: one finished (or running) run folder as its readers see it, so no reader needs the folder's file names.

The CLI, the analyses and the dashboard's cache read a run through this object; crl.runs.folder.RunFolder is
the training process's writer. Each property reads its file on first use; a `Run` is cheap, so callers make a
new one whenever the folder may have changed (the dashboard keys its caches by the files' modification times).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from crl.errors import RunError
from crl.runs.files import (
    CONFIG_FILE,
    ETA_FILE,
    INFERRED_COLUMN,
    LATENTS_FILE,
    METRICS_FILE,
    NAMES_FILE,
    STATUS_FILE,
    read_json,
    read_jsonl,
)
from crl.runs.folder import recorded_cohort_path
from crl.runs.graph_file import graph_path, read_graph
from crl.runs.registry import MAIN_TRAINING
from crl.runs.sparsity_path import INDEX_FILE, PATH_DIR

ID_COLUMN = "subject_id"
DEFAULT_THRESHOLD = 0.5
# What reading a damaged or half-written CSV can raise (RunError is none of these: it passes through).
READ_ERRORS = (
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
    UnicodeDecodeError,
    ValueError,
    KeyError,
    OSError,
)


def unreadable(file: Path, error: BaseException, what: str) -> RunError:
    """RunError for a damaged run file: which file, why (bytes that are not text said so), how to recover."""
    if isinstance(error, UnicodeDecodeError):
        why = f"it is not text: byte {error.object[error.start]:#04x} at position {error.start} is not UTF-8"
    else:
        why = str(error)
    return RunError(
        f"{file} {what} ({why}); the file is damaged: retrain the run or restore the file from a backup"
    )


@dataclass(frozen=True)
class SparsityLevel:
    """One graph along a sparsity path: its sparsity weight and the folder holding its graph.csv."""

    weight: float
    folder: Path

    @property
    def label(self) -> str:
        return f"{self.weight:g}"


class Run:
    """Read-only view of a run folder: config, status, latents, graph, metrics and sparsity levels."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    # -- where things are ----------------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def status_file(self) -> Path:
        return self.path / STATUS_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def latents_file(self) -> Path:
        return self.path / LATENTS_FILE

    @property
    def graph_file(self) -> Path:
        return graph_path(self.path)

    @property
    def names_file(self) -> Path:
        """The user's display names for the latents (crl.analysis.names)."""
        return self.path / NAMES_FILE

    @property
    def path_index_file(self) -> Path:
        """The sparsity path's index (crl.runs.sparsity_path)."""
        return self.path / PATH_DIR / INDEX_FILE

    def watched_files(self) -> tuple[Path, ...]:
        """The files a dashboard page reads: when none of them changed, nothing it shows did."""
        return (
            self.graph_file,
            self.latents_file,
            self.config_file,
            self.metrics_file,
            self.names_file,
            self.path_index_file,
        )

    @property
    def has_graph(self) -> bool:
        return self.graph_file.exists()

    @property
    def has_latents(self) -> bool:
        return self.latents_file.exists()

    @property
    def eta_file(self) -> Path:
        return self.path / ETA_FILE

    # -- what is in them -----------------------------------------------------------------------------------------
    @cached_property
    def config(self) -> dict[str, Any]:
        """config.json ({} when missing or not an object); RunError when it is not readable JSON."""
        if not self.config_file.exists():
            return {}
        try:
            value = json.loads(self.config_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
            raise unreadable(self.config_file, error, "is not readable JSON") from None
        return value if isinstance(value, dict) else {}

    def threshold(self) -> float:
        """The edge-strength threshold recorded in config.json (the default when none is recorded)."""
        return float((self.config.get("graph") or {}).get("threshold", DEFAULT_THRESHOLD))

    def cohort_path(self) -> Path | None:
        """The cohort folder config.json records (crl.runs.folder.recorded_cohort_path), or None."""
        return recorded_cohort_path(self.path, self.config)

    @cached_property
    def status(self) -> dict[str, Any]:
        """status.json ({} when missing or unreadable: a run being written may not have one yet)."""
        value = read_json(self.status_file, {})
        return value if isinstance(value, dict) else {}

    @property
    def training_status(self) -> dict[str, Any]:
        """status.json as the training that made the model left it (kept restart, seconds, ...): while a side
        job (a refit, a confidence measurement) runs, crl.jobs keeps those fields under "training"."""
        aside = self.status.get(MAIN_TRAINING)
        return {**self.status, **aside} if isinstance(aside, dict) else self.status

    @cached_property
    def latent_names(self) -> list[str] | None:
        """The latents in the order of latents.csv's columns, or None when the run has no latents.csv."""
        if not self.has_latents:
            return None
        columns = pd.read_csv(self.latents_file, nrows=0).columns
        return [c for c in columns if c not in (ID_COLUMN, INFERRED_COLUMN)]

    def latents(self) -> pd.DataFrame:
        """latents.csv as numbers `(subjects, latents)` indexed by subject_id (as text), without the `inferred`
        column (`inferred()` reads that).

        Callers check `has_latents` first and say how to get a finished run; a file that cannot be parsed raises
        RunError here."""
        file = self.latents_file
        try:
            table = pd.read_csv(file, dtype={ID_COLUMN: str, INFERRED_COLUMN: str})
            if ID_COLUMN not in table.columns:
                raise RunError(f"{file} has no {ID_COLUMN} column; retrain the run")
            return table.drop(columns=[INFERRED_COLUMN], errors="ignore").set_index(ID_COLUMN).astype(float)
        except READ_ERRORS as error:
            raise unreadable(file, error, "could not be read as a table of numbers") from None

    def inferred(self) -> pd.Series:
        """Per subject (indexed by subject_id), the modalities whose latents in latents.csv were inferred from
        the subject's other modalities rather than encoded, as a list ([] for all when the run has no such
        subject). RunError when latents.csv cannot be read."""
        file = self.latents_file
        try:
            table = pd.read_csv(file, dtype=str, keep_default_na=False)
        except READ_ERRORS as error:
            raise unreadable(file, error, "could not be read as a table") from None
        if ID_COLUMN not in table.columns:
            raise RunError(f"{file} has no {ID_COLUMN} column; retrain the run")
        column = (
            table[INFERRED_COLUMN] if INFERRED_COLUMN in table.columns else pd.Series("", index=table.index)
        )
        return pd.Series(
            [[m for m in str(v).split(";") if m] for v in column],
            index=pd.Index(table[ID_COLUMN], name=ID_COLUMN),
            name=INFERRED_COLUMN,
        )

    def graph_table(self, level: Path | str | None = None) -> pd.DataFrame | None:
        """graph.csv (or a sparsity level's, `level` = its folder) as source, target, weight; None when missing.

        A file that is not a CSV table (damaged bytes, not text at all) is a RunError naming it."""
        folder = Path(level) if level else self.path
        if not graph_path(folder).exists():
            return None
        try:
            return read_graph(folder)
        except READ_ERRORS as error:
            raise unreadable(
                graph_path(folder),
                error,
                "could not be read as a CSV table with columns source,target,weight",
            ) from None

    def metrics(self) -> list[dict[str, Any]]:
        """Every complete object line of metrics.jsonl ([] when missing); damaged lines and bytes are skipped."""
        return read_jsonl(self.metrics_file, errors="replace")

    def sparsity_levels(self) -> list[SparsityLevel]:
        """The sparsity path (`path/index.json` + `path/<k>/graph.csv`), weakest sparsity first; [] if none.

        index.json may be a list of weights (folder = position), a list of {"k", "sparsity"} objects, or an
        object {k: weight}; levels whose graph.csv is missing are left out.
        """
        index = read_json(self.path_index_file, None)
        if index is None:
            return []
        if isinstance(index, dict):
            entries = index.get("levels", index.get("path", index))
        else:
            entries = index
        pairs: list[tuple[str, object]] = []
        if isinstance(entries, dict):
            pairs = [(str(k), v) for k, v in entries.items()]
        elif isinstance(entries, list):
            for k, entry in enumerate(entries):
                if isinstance(entry, dict):
                    key = entry.get("k", entry.get("folder", entry.get("path", k)))
                    value = next(
                        (entry[x] for x in ("sparsity", "weight", "alpha_s", "lambda") if x in entry), None
                    )
                    pairs.append((str(key), value))
                else:
                    pairs.append((str(k), entry))
        levels = []
        for key, value in pairs:
            try:
                weight = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            folder = self.path / PATH_DIR / Path(key).name
            if graph_path(folder).exists():
                levels.append(SparsityLevel(weight, folder))
        return sorted(levels, key=lambda level: level.weight)
