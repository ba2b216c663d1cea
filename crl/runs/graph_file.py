"""graph.csv of a run folder or of a sparsity level: its one writer and its one reader.

The format (crl.graphs.edge_table) is shared with a synthetic cohort's truth/graph.csv: `source,target,weight`,
every ordered pair of distinct latents, names quoted the CSV way when they need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from crl.graphs.edge_table import read_edge_table, weighted_edges_text
from crl.runs.files import GRAPH_FILE, atomic_write_text


def graph_path(folder: Path | str) -> Path:
    """Where a run folder (or a sparsity level's folder) keeps its graph."""
    return Path(folder) / GRAPH_FILE


def write_graph(folder: Path | str, latent_names: Sequence[str], strengths: Any) -> None:
    """graph.csv: every ordered pair of distinct latents with its strength (`strengths[source, target]`), atomically."""
    atomic_write_text(graph_path(folder), weighted_edges_text(list(latent_names), strengths))


def read_graph(folder: Path | str) -> pd.DataFrame:
    """graph.csv as a table (source, target, weight); parser errors propagate for the caller to word."""
    return read_edge_table(graph_path(folder))
