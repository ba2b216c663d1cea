"""Ground truth of a synthetic cohort: true latents per subject and the true latent graph (truth/ folder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.loaders import special_file
from crl.errors import CrlError
from crl.graphs.edge_table import read_edge_table
from crl.graphs.names import split_latent_name

ID_COLUMN = "subject_id"
TRUTH_DIR = "truth"
TRUE_LATENTS_FILE = "latents.csv"
TRUE_GRAPH_FILE = "graph.csv"


def true_graph_path(cohort: Path | str) -> Path:
    """Where a synthetic cohort keeps its true latent graph (`source,target`)."""
    return Path(cohort) / TRUTH_DIR / TRUE_GRAPH_FILE


def true_latents_path(cohort: Path | str) -> Path:
    """Where a synthetic cohort keeps its true latents (`subject_id` plus `<modality>.z<k>`)."""
    return Path(cohort) / TRUTH_DIR / TRUE_LATENTS_FILE


@dataclass
class Truth:
    """True latents `(n_subjects, n_latents)` indexed by subject_id, with columns `<modality>.z<k>`, and edges.

    `nuisance` (optional) holds the modality-specific exogenous variables `<modality>.eta<k>`.
    """

    latents: pd.DataFrame
    edges: list[tuple[str, str]]
    nuisance: pd.DataFrame | None = field(default=None)

    @property
    def latent_names(self) -> list[str]:
        return [str(c) for c in self.latents.columns]

    @property
    def modalities(self) -> list[str]:
        """Modality names in the order their latents appear."""
        return list(self.blocks())

    def blocks(self) -> dict[str, list[str]]:
        """Modality -> its latent names, in column order."""
        out: dict[str, list[str]] = {}
        for name in self.latent_names:
            out.setdefault(split_latent_name(name)[0], []).append(name)
        return out

    def adjacency(self) -> np.ndarray:
        """`(d, d)` bool in the order of `latent_names`; `[i, j]` True means an edge latent i -> latent j."""
        index = {name: i for i, name in enumerate(self.latent_names)}
        a = np.zeros((len(index), len(index)), dtype=bool)
        for source, target in self.edges:
            a[index[source], index[target]] = True
        return a

    def cross_modal_edges(self) -> list[tuple[str, str]]:
        """Edges whose endpoints sit in different modalities (the ones the method can identify)."""
        return [(s, t) for s, t in self.edges if split_latent_name(s)[0] != split_latent_name(t)[0]]


def load_truth(root: Path) -> Truth:
    """Read `root/truth/latents.csv` and `root/truth/graph.csv` (and `nuisance.csv` when present)."""
    root = Path(root)
    folder = root / TRUTH_DIR
    if not folder.is_dir():
        raise CrlError(
            f"{root} has no truth/ folder: ground truth exists only for synthetic cohorts "
            "(write one with `crl synth PRESET --out DIR`)"
        )
    latents = _read_table(folder / TRUE_LATENTS_FILE)
    if ID_COLUMN not in latents.columns:
        raise CrlError(
            f"{folder / TRUE_LATENTS_FILE} has no '{ID_COLUMN}' column; its first column must be the IDs"
        )
    latents[ID_COLUMN] = latents[ID_COLUMN].astype(str)
    if latents[ID_COLUMN].duplicated().any():
        dup = latents.loc[latents[ID_COLUMN].duplicated(), ID_COLUMN].iloc[0]
        raise CrlError(
            f"{folder / TRUE_LATENTS_FILE} lists subject '{dup}' more than once; keep one row per subject"
        )
    latents = latents.set_index(ID_COLUMN)
    if latents.shape[1] == 0:
        raise CrlError(
            f"{folder / TRUE_LATENTS_FILE} has no latent columns; add columns named '<modality>.z<k>'"
        )
    for column in latents.columns:
        try:
            split_latent_name(str(column))
        except CrlError as error:
            raise CrlError(f"{folder / TRUE_LATENTS_FILE}: {error}") from None
    try:
        latents = latents.astype(float)
    except (TypeError, ValueError):
        raise CrlError(
            f"{folder / TRUE_LATENTS_FILE} has non-numeric latent values; every latent must be a number"
        ) from None

    graph = _read_table(
        folder / TRUE_GRAPH_FILE, read_edge_table
    )  # the edge-table format of a run's graph.csv
    if list(graph.columns[:2]) != ["source", "target"]:
        raise CrlError(
            f"{folder / TRUE_GRAPH_FILE} must start with columns 'source,target' (found {list(graph.columns)})"
        )
    names = set(latents.columns)
    edges = [(str(s), str(t)) for s, t in zip(graph["source"], graph["target"], strict=True)]
    unknown = sorted({v for e in edges for v in e} - names)
    if unknown:
        raise CrlError(
            f"{folder / TRUE_GRAPH_FILE} names latents missing from latents.csv: {', '.join(unknown)}; "
            "edge endpoints must be latent column names"
        )

    nuisance = None
    if (folder / "nuisance.csv").is_file():
        nuisance = _read_table(folder / "nuisance.csv")
        if ID_COLUMN in nuisance.columns:
            nuisance[ID_COLUMN] = nuisance[ID_COLUMN].astype(str)
            nuisance = nuisance.set_index(ID_COLUMN)
    return Truth(latents=latents, edges=edges, nuisance=nuisance)


def _read_table(path: Path, read=None) -> pd.DataFrame:
    """A truth/ CSV (`read(path)` when given, else pandas with text subject IDs); CrlError naming the file."""
    reason = special_file(path)
    if reason and path.exists():  # a pipe would hang the read, a device never end it
        raise CrlError(f"{path} {reason}; truth/ holds regular files only (rewrite it with `crl synth`)")
    if not path.is_file():
        raise CrlError(
            f"{path} is missing; a synthetic cohort's truth/ folder needs latents.csv and graph.csv"
        )
    try:
        return read(path) if read is not None else pd.read_csv(path, dtype={ID_COLUMN: str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise CrlError(f"{path} is not a readable CSV ({error}); rewrite it with `crl synth`") from None
