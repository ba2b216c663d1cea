"""Per-column summaries for a first look at a cohort: numbers for measurements, counts for clinical text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.loaders import load_anndata, load_tabular
from crl.data.manifest import read_manifest
from crl.data.manifest_omics import is_omics_path
from crl.errors import CohortError


def column_summary(data: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """One row per column of `data` (N, F): mean, sd, min, max over the finite values, and how many are missing.

    Missing counts NaN and ±inf; a column without any finite value has NaN statistics.
    """
    values = np.asarray(data, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ValueError(f"data must be (subjects, {len(names)}) to match the names, got {values.shape}")
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    clean = np.where(finite, values, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(clean, axis=0) / np.where(count > 0, count, np.nan)
        spread = np.nansum((clean - mean) ** 2, axis=0) / np.where(count > 1, count - 1, np.nan)
    low = np.where(count > 0, np.nanmin(np.where(finite, values, np.inf), axis=0), np.nan)
    high = np.where(count > 0, np.nanmax(np.where(finite, values, -np.inf), axis=0), np.nan)
    return pd.DataFrame(
        {
            "column": [str(n) for n in names],
            "mean": mean,
            "sd": np.sqrt(spread),
            "min": low,
            "max": high,
            "missing": len(values) - count,
        }
    )


def covariate_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per covariate: its type, how many values are missing, and numbers (mean, sd) or the commonest levels."""
    rows = []
    for column in frame.columns:
        series = frame[column]
        missing = int(series.isna().sum())
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric:
            values = series.dropna().astype(float)
            rows.append(
                {
                    "covariate": str(column),
                    "type": "number",
                    "missing": missing,
                    "mean": float(values.mean()) if len(values) else np.nan,
                    "sd": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                    "levels": "",
                }
            )
            continue
        counts = series.dropna().astype(str).value_counts()
        shown = ", ".join(f"{level} ({n})" for level, n in counts.head(4).items())
        more = f", … {len(counts) - 4} more" if len(counts) > 4 else ""
        rows.append(
            {
                "covariate": str(column),
                "type": "categories",
                "missing": missing,
                "mean": np.nan,
                "sd": np.nan,
                "levels": shown + more,
            }
        )
    return pd.DataFrame(rows, columns=["covariate", "type", "missing", "mean", "sd", "levels"])


def source_table_preview(root: Path, modality: str, rows: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A tabular modality's source as read from disk, before any subject is left out or value imputed.

    Returns (head, summary): the first `rows` rows (ID column first, numeric columns only) and
    `column_summary` over every row, so missing values show even when a policy later fills them.
    Raises CohortError (LoadError) when the source cannot be read as a table.
    """
    manifest, _ = read_manifest(Path(root))
    if manifest is None or modality not in manifest.modalities:
        raise CohortError(f"modality '{modality}' is not in {Path(root) / 'cohort.toml'}.", None)
    spec = manifest.modalities[modality]
    if spec.kind != "tabular":
        raise CohortError(f"modality '{modality}' is {spec.kind}, not a table.", None)
    path = Path(root) / spec.path
    if is_omics_path(path):  # an .h5ad, or one modality of an .h5mu
        loaded = load_anndata(path, spec.options.get("layer"), spec.options.get("modality"))
    else:
        loaded = load_tabular(path, manifest.id)
    head = pd.DataFrame(loaded.data[:rows], columns=loaded.feature_names)
    head.insert(0, manifest.id, loaded.subject_ids[:rows])
    return head, column_summary(loaded.data, loaded.feature_names)
