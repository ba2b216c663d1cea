"""Tables (.csv/.parquet): reading one with its subject-ID column, tabular modalities and covariates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.loaders.common import Found, Loaded, as_str_ids, listing, plural, require_regular, verb
from crl.data.manifest import Problem


def csv_header(source) -> list[str]:
    """A CSV's column names exactly as written: pandas renames repeated ones ('x', 'x.1') when it reads a table."""
    return pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()


def repeated_names(names) -> list[tuple[str, int]]:
    """Column names given more than once, with how often (empty names are left to the saved-index check)."""
    counts: dict[str, int] = {}
    for name in map(str, names):
        counts[name] = counts.get(name, 0) + 1
    return [(name, k) for name, k in counts.items() if k > 1 and name.strip()]


def read_table(path: Path, id_column: str, found: Found) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a .csv/.parquet table; return it with the ID column removed, and the IDs as (N,) str.

    Raises LoadError for a special file, an unsupported suffix, repeated column names, a missing ID column or
    rows without an ID.
    """
    require_regular(path, found)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise found.fatal(
            "unsupported_file",
            f"unsupported file type '{path.suffix}'.",
            "save the table as .csv or .parquet.",
        )
    if suffix == ".csv":
        repeated = repeated_names(csv_header(path))
    else:
        import pyarrow.parquet as pq

        repeated = repeated_names(pq.read_schema(path).names)
    if repeated:
        # An error, not a warning: which copy holds the values meant by the name is the user's call, and a
        # renamed copy ('x.1') would become a feature, channel or covariate under a name nobody gave it.
        raise found.fatal(
            "duplicate_columns",
            f"{plural(len(repeated), 'column name')} {verb(len(repeated), 'appears', 'appear')} more than once: "
            f"{listing(f'{name} (x{k})' for name, k in repeated)}; the copies cannot be told apart.",
            "give every column its own name (or delete the extra copies) and save the file again.",
        )
    if suffix == ".csv":
        # Reading the ID column as text keeps leading zeros ("007" stays "007").
        frame = pd.read_csv(path, dtype={id_column: str})
    else:
        frame = pd.read_parquet(path)
    frame.columns = [str(c) for c in frame.columns]
    saved_index = [c for c in frame.columns if c.startswith("Unnamed: ") and c != id_column]
    if saved_index:
        # pandas writes its row index as an unnamed first column unless told index=False.
        found.add(
            "warning",
            "saved_index",
            f"{plural(len(saved_index), 'unnamed column')} ({listing(saved_index)}) "
            f"{verb(len(saved_index), 'looks', 'look')} like a saved row index and "
            f"{verb(len(saved_index), 'was', 'were')} ignored.",
            "save the table without its index (pandas: to_csv(..., index=False)) or name the column.",
        )
        frame = frame.drop(columns=saved_index)
    if id_column not in frame.columns:
        lower = {c.lower(): c for c in frame.columns}
        hint = (
            f" Column '{lower[id_column.lower()]}' differs only in case."
            if id_column.lower() in lower
            else ""
        )
        raise found.fatal(
            "missing_id_column",
            f"no ID column '{id_column}' (columns: {listing(frame.columns, 8)}).{hint}",
            f"rename the subject-ID column to '{id_column}', or set id = \"...\" in cohort.toml.",
        )
    ids = frame[id_column]
    blank = ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy()
    if blank.any():
        rows = np.flatnonzero(blank) + 2 if suffix == ".csv" else np.flatnonzero(blank)
        where = "lines" if suffix == ".csv" else "rows"
        raise found.fatal(
            "missing_ids",
            f"{plural(int(blank.sum()), 'row')} {verb(int(blank.sum()), 'has', 'have')} no subject ID "
            f"({where} {listing(rows)}).",
            "fill in the ID or delete those rows.",
            column=id_column,
        )
    return frame.drop(columns=[id_column]), as_str_ids(ids)


def numeric_columns(frame: pd.DataFrame, found: Found) -> pd.DataFrame:
    """Keep the numeric columns (booleans count); report each other column with examples of what is in it."""
    keep = []
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_complex_dtype(series):
            keep.append(column)
            continue
        as_numbers = pd.to_numeric(series, errors="coerce")
        bad = series.notna().to_numpy() & as_numbers.isna().to_numpy()
        if not bad.any():  # numbers stored as text: usable as they are
            frame[column] = as_numbers
            keep.append(column)
            continue
        examples = listing(dict.fromkeys(repr(str(v)) for v in series[bad].head(50)), 3)
        found.add(
            "error",
            "non_numeric",
            f"is not numeric: {plural(int(bad.sum()), 'value')} {verb(int(bad.sum()), 'is not a number', 'are not numbers')}, "
            f"e.g. {examples}.",
            "encode it as numbers, remove it, or move it to the covariates file (covariates may hold text).",
            column=column,
        )
    return frame[keep]


def load_tabular(path: Path, id_column: str, problems: list[Problem] | None = None) -> Loaded:
    """A .csv/.parquet table with one row per subject -> ids (N,), data (N, F) float32, column names."""
    found = Found(path, problems)
    frame, ids = read_table(path, id_column, found)
    frame = numeric_columns(frame, found)
    if frame.shape[1] == 0:
        raise found.fatal(
            "no_features",
            "has no numeric feature columns besides the ID.",
            "add at least one numeric column of measurements.",
        )
    data = frame.to_numpy(dtype=np.float32, na_value=np.nan)
    found.flush()
    return Loaded(ids, data, list(frame.columns))


def load_covariates(path: Path, id_column: str, problems: list[Problem] | None = None) -> pd.DataFrame:
    """A .csv/.parquet table of observed variables (numbers or text) -> DataFrame indexed by str subject ID."""
    found = Found(path, problems)
    frame, ids = read_table(path, id_column, found)
    frame.index = pd.Index(ids, name=id_column)
    found.flush()
    return frame
