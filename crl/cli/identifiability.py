"""`crl identifiability PATH`: read a synthetic cohort's true graph or a run's learned graph and check it.

The check itself is crl.graphs.identifiability (it reads no files); this module reads the folders.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.manifest import read_manifest
from crl.data.truth import true_graph_path, true_latents_path
from crl.errors import CrlError
from crl.graphs.edge_table import read_edge_table
from crl.graphs.identifiability import check_identifiability
from crl.graphs.names import LATENT_NAME, latent_names
from crl.runs.run import Run


def _split_name(name: str, where: Path) -> tuple[str, int]:
    match = LATENT_NAME.match(name)
    if not match:
        raise CrlError(
            f"{where}: latent name '{name}' is not '<modality>.z<k>'; "
            "name latent columns and graph nodes like 'sleep.z0'"
        )
    return match["modality"], int(match["k"])


def _read_edges(path: Path, required: tuple[str, ...], fix: str = "rewrite it") -> pd.DataFrame:
    """The edge table at `path` (crl.graphs.edge_table), with its columns checked; `fix` says how to repair it."""
    try:
        table = read_edge_table(path)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise CrlError(f"{path} could not be read as a CSV table ({error}); {fix}") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise CrlError(f"{path} lacks columns {missing}; it needs {list(required)}")
    for column in ("source", "target"):
        table[column] = table[column].str.strip()
    return table


def _latent_columns(path: Path) -> list[str]:
    """The `<modality>.z<k>` columns of a latents table (its header only)."""
    try:
        header = pd.read_csv(path, nrows=0).columns
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise CrlError(f"{path} could not be read as a CSV table ({error}); rewrite it") from None
    return [str(c).strip() for c in header if LATENT_NAME.match(str(c).strip())]


def _latent_order(
    latent_columns: list[str], edge_names: list[str], modality_order: list[str], where: Path
) -> tuple[list[str], dict[str, list[int]]]:
    """Latent names grouped by modality (manifest order first) and sorted by k; blocks as index lists."""
    names = list(dict.fromkeys([*latent_columns, *edge_names]))
    parsed = {name: _split_name(name, where) for name in names}
    order = list(dict.fromkeys([*modality_order, *(parsed[n][0] for n in names)]))
    names.sort(key=lambda n: (order.index(parsed[n][0]), parsed[n][1]))
    blocks: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        blocks.setdefault(parsed[name][0], []).append(i)
    return names, blocks


def _adjacency(names: list[str], edges: list[tuple[str, str]]) -> np.ndarray:
    index = {name: i for i, name in enumerate(names)}
    adj = np.zeros((len(names), len(names)), dtype=int)
    for source, target in edges:
        adj[index[source], index[target]] = 1
    return adj


def _load_cohort(path: Path) -> tuple[list[str], dict[str, list[int]], np.ndarray, str]:
    graph = true_graph_path(path)
    table = _read_edges(graph, ("source", "target"))
    edges = list(zip(table["source"], table["target"], strict=True))
    manifest, _ = read_manifest(path)
    modality_order = list(manifest.modalities) if manifest else []
    if true_latents_path(path).exists():
        columns = _latent_columns(true_latents_path(path))
    else:
        columns = (
            latent_names({name: m.latents for name, m in manifest.modalities.items()}) if manifest else []
        )
    names, blocks = _latent_order(columns, [n for e in edges for n in e], modality_order, graph)
    return names, blocks, _adjacency(names, edges), f"true graph of cohort {path}"


def _load_run(path: Path, threshold: float) -> tuple[list[str], dict[str, list[int]], np.ndarray, str]:
    run = Run(path)
    table = _read_edges(
        run.graph_file,
        ("source", "target", "weight"),
        fix="the file is damaged: retrain the run or restore the file from a backup",
    )
    weights = pd.to_numeric(table["weight"], errors="coerce")
    if weights.isna().any():
        bad = table["weight"][weights.isna()].iloc[0]
        raise CrlError(f"{run.graph_file}: weight '{bad}' is not a number; rewrite the run's graph")
    keep = (weights >= threshold) & (table["source"] != table["target"])
    edges = list(zip(table["source"][keep], table["target"][keep], strict=True))
    columns = _latent_columns(run.latents_file) if run.has_latents else []
    all_nodes = [n for pair in zip(table["source"], table["target"], strict=True) for n in pair]
    names, blocks = _latent_order(columns, all_nodes, [], run.graph_file)
    return (
        names,
        blocks,
        _adjacency(names, edges),
        f"learned graph of run {path} (edges with weight >= {threshold})",
    )


def identifiability_cli(path: Path, threshold: float | None, as_json: bool) -> int:
    """`crl identifiability PATH`: check a synthetic cohort's true graph or a run's learned graph; print it.

    A cohort folder has truth/graph.csv (source,target; latent names from truth/latents.csv, modality order
    from cohort.toml); `threshold` does not apply to it. A run folder has graph.csv (source,target,weight);
    edges with weight >= threshold (default 0.5) are kept.
    """
    path = Path(path)
    if true_graph_path(path).is_file():
        names, blocks, adj, what = _load_cohort(path)
        used_threshold = None
    elif Run(path).has_graph:
        used_threshold = 0.5 if threshold is None else float(threshold)
        names, blocks, adj, what = _load_run(path, used_threshold)
    elif not path.is_dir():
        raise CrlError(f"{path} is not a folder; pass a synthetic cohort folder or a run folder")
    else:
        raise CrlError(
            f"{path} has neither truth/graph.csv (a synthetic cohort from `crl synth`) nor graph.csv "
            "(a run folder from `crl train`); pass one of those folders"
        )
    if not names:
        raise CrlError(f"{path}: the graph names no latents; check its graph.csv")
    report = check_identifiability(adj, blocks, names)
    if as_json:
        out = {"source": what, "path": str(path), "threshold": used_threshold, **report.to_dict()}
        print(json.dumps(out, indent=2))
    else:
        print(f"Identifiability of the {what}")
        print(report.format())
    return 0
