"""The edge-table CSV format of graph.csv (a run's learned graph) and truth/graph.csv (a cohort's true graph).

One row per edge: `source,target[,weight]`. Latent names are quoted the CSV way when they hold a comma, a quote
or a line break, so any modality name round-trips; ordinary names are written bare, as they always were. The
file names and where the files live belong to crl.runs and crl.data; this module knows only the format.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

SOURCE, TARGET, WEIGHT = "source", "target", "weight"
WEIGHTED_COLUMNS = (SOURCE, TARGET, WEIGHT)
# A weight cell that reads as missing (what pandas takes for NaN by default); names are never read as missing.
_MISSING_WEIGHT = ("", "nan", "NaN", "NA", "N/A", "n/a", "null", "NULL", "None", "<NA>", "-nan", "-NaN")


def csv_field(text: str) -> str:
    """One CSV cell: bare when it can be, else in double quotes with inner quotes doubled.

    Python's csv module leaves a lone carriage return unquoted when lines end in "\\n"; a reader would split the
    row there, so "\\r" is quoted here too.
    """
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def edge_table_text(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """CSV text: a header line of `columns`, then one line per row of already formatted cells ("\\n" endings)."""
    lines = [",".join(csv_field(str(c)) for c in columns)]
    lines += [",".join(csv_field(str(cell)) for cell in row) for row in rows]
    return "\n".join(lines) + "\n"


def weighted_edges_text(names: Sequence[str], strengths: Any) -> str:
    """graph.csv: every ordered pair of distinct latents with `strengths[source][target]` (6 significant digits)."""
    rows = [
        (source, target, f"{float(strengths[i][j]):.6g}")
        for i, source in enumerate(names)
        for j, target in enumerate(names)
        if i != j
    ]
    return edge_table_text(WEIGHTED_COLUMNS, rows)


def read_edge_table(path: Path) -> pd.DataFrame:
    """An edge table as written above: `source`/`target` as text (a name like "NA" or "1" stays a name), a
    `weight` column as numbers where present. Parser errors propagate: each caller words its own message."""
    return pd.read_csv(
        path,
        dtype={SOURCE: str, TARGET: str},
        keep_default_na=False,
        na_values={WEIGHT: list(_MISSING_WEIGHT)},
    )
