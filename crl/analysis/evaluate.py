"""Scores a run folder's latents and graph against a synthetic cohort's ground truth (docs/cli.md, docs/run-folder.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crl.analysis.metrics import map_graph, mcc, mcc_per_block, r2_heldout, shd
from crl.data.truth import Truth, load_truth
from crl.errors import RunError
from crl.graphs.dag import adjacency_from_pairs, cross_modal_mask
from crl.graphs.names import blocks_of
from crl.runs.folder import recorded_cohort_path
from crl.runs.run import DEFAULT_THRESHOLD, Run


def adjacency_from_edges(edges: pd.DataFrame, names: list[str], threshold: float) -> np.ndarray:
    """(d, d) binary adjacency, [i, j] = 1 for source i -> target j with weight >= threshold."""
    kept = edges[edges["weight"].astype(float) >= threshold]
    return adjacency_from_pairs(names, zip(kept["source"], kept["target"], strict=True))


def score(
    latents: pd.DataFrame,
    edges: pd.DataFrame | None,
    truth: Truth,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    r2: bool = True,
) -> dict:
    """Every metric of docs/method.md §6 for estimated latents (indexed by subject_id) and an edge table.

    Subjects are matched by ID; latents are matched within each modality (names must share modality names).
    r2=False leaves out the held-out R² (its kernel regression takes seconds on a few thousand subjects).
    """
    common = truth.latents.index.intersection(latents.index)
    if len(common) < 20:
        raise RunError(
            f"only {len(common)} subjects are shared by the run's latents and the truth; "
            "evaluate against the cohort the run was trained on (--truth DIR)"
        )
    true = truth.latents.loc[common].to_numpy(float)
    est = latents.loc[common].to_numpy(float)
    true_names, est_names = truth.latent_names, [str(c) for c in latents.columns]
    true_blocks, est_blocks = blocks_of(true_names), blocks_of(est_names)
    if set(true_blocks) != set(est_blocks):
        raise RunError(
            f"the run's modalities {sorted(est_blocks)} differ from the truth's {sorted(true_blocks)}; "
            "pass the cohort this run was trained on"
        )
    block_result = mcc_per_block(true, est, true_blocks, est_blocks)
    result = {
        "subjects": int(len(common)),
        "mcc": block_result.global_.value,
        "mcc_within_modality": block_result.within_blocks,
        "mcc_spearman": mcc(true, est, method="spearman").value,
        "mcc_per_modality": {name: r.value for name, r in block_result.per_block.items()},
    }
    if r2:
        order = np.random.default_rng(seed).permutation(len(common))
        n_test = max(2, len(common) // 5)
        heldout = r2_heldout(true, est, order[n_test:], order[:n_test], seed=seed)
        result["r2"] = heldout.mean
        result["r2_per_latent"] = {
            name: float(v) for name, v in zip(true_names, heldout.per_latent, strict=False)
        }
    result["matching"] = {true_names[t]: est_names[e] for t, e in block_result.matching.items()}
    if edges is not None:
        est_adj = adjacency_from_edges(edges, est_names, threshold)
        mapped = map_graph(est_adj, block_result.matching, n_true=len(true_names))
        graph = shd(
            truth.adjacency().astype(int), mapped, cross_mask=cross_modal_mask(true_blocks, len(true_names))
        )
        result["threshold"] = threshold
        result["graph"] = graph.to_dict()
        result["shd"] = graph.total
        result["shd_cross_modal"] = graph.cross.total if graph.cross is not None else None
    return result


def read_run(run: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame | None]:
    """(config, latents indexed by subject_id, edge table or None) from a run folder."""
    found = Run(run)
    if not found.has_latents:
        raise RunError(
            f"{found.path} has no latents.csv: it is not a finished run folder (train it with `crl train`)"
        )
    return found.config, found.latents(), found.graph_table()


def evaluate_run(run: Path, truth: Path | None = None, threshold: float | None = None) -> dict:
    """Metrics of a run folder against ground truth (default: the cohort recorded in its config.json)."""
    config, latents, edges = read_run(run)
    if truth is None:
        truth = recorded_cohort_path(run, config)
        if truth is None:
            raise RunError(f"{run}/config.json does not record its cohort; pass --truth COHORT_DIR")
    if threshold is None:
        threshold = float((config.get("graph") or {}).get("threshold", DEFAULT_THRESHOLD))
    return score(latents, edges, load_truth(Path(truth)), threshold=threshold)
