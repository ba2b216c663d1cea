"""`crl identifiability PATH`: read a synthetic cohort's true graph or a run's learned graph and check it.

The check itself is crl.graphs.identifiability (it reads no files); this module reads the folders.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crl.errors import CrlError
from crl.graphs.identifiability import check_identifiability
from crl.graphs.names import LATENT_NAME, latent_names
from crl.runs.files import GRAPH_FILE, LATENTS_FILE

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def _split_name(name: str, where: Path) -> tuple[str, int]:
    match = LATENT_NAME.match(name)
    if not match:
        raise CrlError(
            f"{where}: latent name '{name}' is not '<modality>.z<k>'; "
            "name latent columns and graph nodes like 'sleep.z0'"
        )
    return match["modality"], int(match["k"])


def _read_rows(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip() for f in reader.fieldnames or []]
        missing = [c for c in required if c not in fields]
        if missing:
            raise CrlError(f"{path} lacks columns {missing}; it needs {list(required)}")
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [c.strip() for c in next(csv.reader(handle), [])]


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
    graph = path / "truth" / "graph.csv"
    rows = _read_rows(graph, ["source", "target"])
    edges = [(r["source"], r["target"]) for r in rows]
    modality_order: list[str] = []
    manifest = path / "cohort.toml"
    latent_counts: dict[str, int] = {}
    if manifest.exists():
        try:
            spec = tomllib.loads(manifest.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise CrlError(f"{manifest} is not valid TOML ({error}); fix the manifest") from error
        for name, mod in (spec.get("modalities") or {}).items():
            modality_order.append(name)
            if isinstance(mod, dict) and isinstance(mod.get("latents"), int):
                latent_counts[name] = mod["latents"]
    columns: list[str] = []
    latents_csv = path / "truth" / "latents.csv"
    if latents_csv.exists():
        columns = [c for c in _header(latents_csv) if LATENT_NAME.match(c)]
    else:
        columns = latent_names(latent_counts)
    names, blocks = _latent_order(columns, [n for e in edges for n in e], modality_order, graph)
    return names, blocks, _adjacency(names, edges), f"true graph of cohort {path}"


def _load_run(path: Path, threshold: float) -> tuple[list[str], dict[str, list[int]], np.ndarray, str]:
    graph = path / GRAPH_FILE
    rows = _read_rows(graph, ["source", "target", "weight"])
    edges = []
    for r in rows:
        try:
            weight = float(r["weight"])
        except ValueError as error:
            raise CrlError(
                f"{graph}: weight '{r['weight']}' is not a number; rewrite the run's graph"
            ) from error
        if weight >= threshold and r["source"] != r["target"]:
            edges.append((r["source"], r["target"]))
    columns: list[str] = []
    if (path / LATENTS_FILE).exists():
        columns = [c for c in _header(path / LATENTS_FILE) if LATENT_NAME.match(c)]
    all_nodes = [n for r in rows for n in (r["source"], r["target"])]
    names, blocks = _latent_order(columns, all_nodes, [], graph)
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
    if (path / "truth" / "graph.csv").is_file():
        names, blocks, adj, what = _load_cohort(path)
        used_threshold = None
    elif (path / GRAPH_FILE).is_file():
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
