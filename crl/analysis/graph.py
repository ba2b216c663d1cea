"""The learned latent graph of a run folder as arrays: names, modalities, weights, thresholded edges."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crl.errors import RunError
from crl.graphs.dag import cross_modal_mask
from crl.graphs.names import blocks_of, split_latent_name
from crl.runs.run import Run


@dataclass(frozen=True)
class LatentGraph:
    """weights (d, d): weights[i, j] = learned strength of latent i -> latent j (source row, target column)."""

    names: tuple[str, ...]
    weights: np.ndarray

    @property
    def modality_of(self) -> list[str]:
        return [split_latent_name(n)[0] for n in self.names]

    @property
    def modalities(self) -> list[str]:
        return list(dict.fromkeys(self.modality_of))

    def blocks(self) -> dict[str, list[int]]:
        """Modality -> latent indices."""
        return blocks_of(self.names)

    def cross_modal(self) -> np.ndarray:
        """(d, d) bool: True where the pair spans two modalities."""
        return cross_modal_mask(self.blocks(), len(self.names))

    def adjacency(self, threshold: float, cross_modal_only: bool = False) -> np.ndarray:
        """(d, d) 0/1: edges whose strength reaches the threshold (the diagonal never)."""
        keep = np.abs(self.weights) >= threshold
        np.fill_diagonal(keep, False)
        if cross_modal_only:
            keep &= self.cross_modal()
        return keep.astype(int)

    def edges(self, threshold: float, cross_modal_only: bool = False) -> pd.DataFrame:
        """Kept edges, strongest first: source, target, weight, cross_modal."""
        rows = [
            (self.names[i], self.names[j], float(self.weights[i, j]), bool(self.cross_modal()[i, j]))
            for i, j in np.argwhere(self.adjacency(threshold, cross_modal_only))
        ]
        table = pd.DataFrame(rows, columns=["source", "target", "weight", "cross_modal"])
        return table.sort_values("weight", ascending=False, key=np.abs, ignore_index=True)

    @classmethod
    def from_table(cls, table: pd.DataFrame, names: list[str] | None = None) -> LatentGraph:
        """From a graph.csv table (source, target, weight); names default to first appearance order."""
        missing = {"source", "target", "weight"} - set(table.columns)
        if missing:
            raise RunError(f"graph table lacks column(s) {sorted(missing)}; expected source,target,weight")
        if names is None:
            names = list(dict.fromkeys(list(table["source"].astype(str)) + list(table["target"].astype(str))))
        index = {n: i for i, n in enumerate(names)}
        weights = np.zeros((len(names), len(names)))
        for s, t, w in zip(
            table["source"].astype(str),
            table["target"].astype(str),
            table["weight"].astype(float),
            strict=False,
        ):
            if s in index and t in index:
                weights[index[s], index[t]] = w
        return cls(tuple(names), weights)


def load_graph(run: Path) -> LatentGraph:
    """The learned graph of a run folder, latents in the order of latents.csv when present."""
    return load_level_graph(run)


def load_level_graph(run: Path, level: Path | None = None) -> LatentGraph:
    """The learned graph of a run folder, or of one of its sparsity levels (`level` = the level's folder);
    latents in the order of the run's latents.csv when present."""
    found = Run(run)
    table = found.graph_table(level)
    if table is None:
        if level is not None:
            raise RunError(f"{level} has no graph.csv; the sparsity path of this run is incomplete")
        raise RunError(
            f"{found.path} has no graph.csv: it is not a finished run folder (train it with `crl train`)"
        )
    return LatentGraph.from_table(table, found.latent_names)
