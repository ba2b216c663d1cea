"""The run-folder files behind "how far can this be believed": each restart's results and their agreement.

A run trained with several restarts (or extended by `crl stability`) keeps every restart's latents and graph
in `restarts/<k>/` (k from 0), so the agreement between them can be computed at any time, also after a resume.
`edge_confidence.csv` (source,target,frequency,effect) and `latent_stability.csv` (latent,stability) name
latents as the run's own latents.csv and graph.csv do. crl.analysis.confidence computes them.

Restarts trained to extend a finished run (`crl stability`, the confidence job) wait in `restarts/.pending/<k>/`
until the confidence is recomputed: the folders counted beside an existing edge_confidence.csv are then always
the ones it was computed from, and a job cut short keeps the restarts it had finished for the next try.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crl.runs.files import (
    EDGE_CONFIDENCE_FILE,
    INFERRED_COLUMN,
    LATENT_STABILITY_FILE,
    LATENTS_FILE,
    RESTARTS_DIR,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    read_json,
)
from crl.runs.graph_file import graph_path, read_graph, write_graph

SUMMARY_FILE = "summary.json"
PENDING_DIR = ".pending"  # restarts/.pending/<k>/: trained, not yet part of the confidence files
EDGE_COLUMNS = ("source", "target", "frequency", "effect")
STABILITY_COLUMNS = ("latent", "stability")


@dataclass(frozen=True)
class RestartResult:
    """One restart's folder: its index, latents `(subjects, latents)` by subject ID, graph table and summary."""

    index: int
    latents: pd.DataFrame
    graph: pd.DataFrame
    summary: dict[str, Any]


def restart_folder(run_dir: Path | str, index: int, pending: bool = False) -> Path:
    root = Path(run_dir) / RESTARTS_DIR
    return (root / PENDING_DIR if pending else root) / str(int(index))


def write_restart(
    run_dir: Path | str,
    index: int,
    latents: pd.DataFrame,
    latent_names: Sequence[str],
    strengths: np.ndarray,
    summary: dict[str, Any],
    pending: bool = False,
) -> None:
    """restarts/<index>/ (or restarts/.pending/<index>/): latents.csv (subject_id + latents), graph.csv and
    summary.json; graph.csv last, so a folder with a graph is complete."""
    folder = restart_folder(run_dir, index, pending)
    atomic_write_csv(folder / LATENTS_FILE, latents)
    atomic_write_json(folder / SUMMARY_FILE, summary)
    write_graph(folder, latent_names, strengths)


def replace_restart_latents(run_dir: Path | str, index: int, latents: pd.DataFrame) -> None:
    """Rewrite restart `index`'s latents.csv (latents indexed by subject_id): the kept restart is the run, and
    its folder keeps the signs the run's latents were turned to after training."""
    atomic_write_csv(restart_folder(run_dir, index) / LATENTS_FILE, latents.reset_index())


def restart_indices(run_dir: Path | str, pending: bool = False) -> set[int]:
    """The indices of the run's complete restart folders (or of its pending ones), without reading them."""
    root = Path(run_dir) / RESTARTS_DIR
    root = root / PENDING_DIR if pending else root
    if not root.is_dir():
        return set()
    return {int(f.name) for f in root.glob("*") if f.name.isdigit() and graph_path(f).is_file()}


def restart_count(run_dir: Path | str) -> int:
    """How many complete restart folders the run has (pending ones not counted), without reading them."""
    return len(restart_indices(run_dir))


def promote_pending(run_dir: Path | str) -> list[int]:
    """Move every complete pending restart into restarts/<k>/ (replacing an incomplete folder of that index);
    returns the indices moved. Called just before the confidence files are rewritten."""
    moved = []
    for index in sorted(restart_indices(run_dir, pending=True)):
        target = restart_folder(run_dir, index)
        if target.exists():
            shutil.rmtree(target)  # incomplete or unreadable: a readable one is never trained again
        restart_folder(run_dir, index, pending=True).replace(target)
        moved.append(index)
    pending = Path(run_dir) / RESTARTS_DIR / PENDING_DIR
    if pending.is_dir():
        shutil.rmtree(pending, ignore_errors=True)  # what is left there is incomplete
    return moved


def read_restarts(run_dir: Path | str) -> list[RestartResult]:
    """Every complete restart folder, by index; unreadable ones are left out (a kill mid-write)."""
    root = Path(run_dir) / RESTARTS_DIR
    found = []
    for folder in sorted(root.glob("*"), key=lambda p: int(p.name) if p.name.isdigit() else -1):
        if not (folder.name.isdigit() and graph_path(folder).is_file()):
            continue
        try:
            latents = pd.read_csv(folder / LATENTS_FILE, dtype={"subject_id": str}).set_index("subject_id")
            latents = latents.drop(columns=[INFERRED_COLUMN], errors="ignore")
            graph = read_graph(folder)
        except (OSError, ValueError, KeyError, pd.errors.ParserError, UnicodeDecodeError):
            continue
        summary = read_json(folder / SUMMARY_FILE, {}) or {}
        found.append(RestartResult(int(folder.name), latents.astype(float), graph, summary))
    return found


def write_confidence(run_dir: Path | str, edges: pd.DataFrame, stability: pd.Series) -> None:
    """edge_confidence.csv and latent_stability.csv (6 significant digits; effect empty where undefined)."""
    table = edges.loc[:, list(EDGE_COLUMNS)]
    atomic_write_text(Path(run_dir) / EDGE_CONFIDENCE_FILE, table.to_csv(index=False, float_format="%.6g"))
    frame = pd.DataFrame({"latent": stability.index.astype(str), "stability": stability.to_numpy(float)})
    atomic_write_text(Path(run_dir) / LATENT_STABILITY_FILE, frame.to_csv(index=False, float_format="%.6g"))


def read_confidence(run_dir: Path | str) -> tuple[pd.DataFrame | None, pd.Series | None]:
    """(edge table with frequency and effect, stability per latent); None for a file the run does not have."""
    run_dir = Path(run_dir)
    edges = stability = None
    if (run_dir / EDGE_CONFIDENCE_FILE).is_file():
        edges = pd.read_csv(
            run_dir / EDGE_CONFIDENCE_FILE,
            dtype={"source": str, "target": str},
            keep_default_na=False,
            na_values={"frequency": [""], "effect": [""]},
        )
    if (run_dir / LATENT_STABILITY_FILE).is_file():
        table = pd.read_csv(
            run_dir / LATENT_STABILITY_FILE,
            dtype={"latent": str},
            keep_default_na=False,
            na_values={"stability": [""]},
        )
        stability = table.set_index("latent")["stability"].astype(float)
    return edges, stability


class RestartRecorder:
    """fit_restarts() callback: when a restart ends, encode the cohort with its best weights and keep its folder."""

    def __init__(self, run_dir: Path | str, cohort):
        self.run_dir = Path(run_dir)
        self.cohort = cohort

    def on_restart_end(self, info: dict[str, Any]) -> None:
        from crl.engine.encode import encode_cohort, latent_table

        model = info["model"]
        latents = latent_table(model, self.cohort, encode_cohort(model, self.cohort, info["normaliser"]))
        summary = {
            key: info[key] for key in ("restart", "seed", "best_validation_loss", "best_epoch") if key in info
        }
        write_restart(self.run_dir, info["restart"], latents, model.latent_names, model.strengths(), summary)
