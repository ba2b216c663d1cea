"""evaluation.json: a run's scores against its cohort's truth, computed once when training ends.

Scoring takes seconds (the held-out R² fits kernel regressions), and the dashboard's first screen and Evaluate
page show it on every visit, so training stores it. It is used only while it still describes the files it was
computed from: it records a digest of the run's latents.csv and graph.csv and of the truth's files, and any
change (a refit, a re-oriented run, a regenerated cohort) makes the reader compute the scores afresh.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from crl.analysis.evaluate import score
from crl.data.truth import load_truth, true_graph_path, true_latents_path
from crl.errors import CrlError
from crl.runs.files import EVALUATION_FILE, atomic_write_json, read_json
from crl.runs.folder import recorded_cohort_path
from crl.runs.run import DEFAULT_THRESHOLD, Run


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def inputs_digest(run_dir: Path, cohort: Path) -> dict[str, str | None]:
    """What the scores depend on: the run's latents and graph and the cohort's true latents and graph."""
    run = Run(run_dir)
    return {
        "latents": _digest(run.latents_file),
        "graph": _digest(run.graph_file),
        "truth_latents": _digest(true_latents_path(cohort)),
        "truth_graph": _digest(true_graph_path(cohort)),
    }


def score_run(run_dir: Path, cohort: Path, threshold: float, r2: bool = True) -> dict:
    """crl.analysis.evaluate.score of a run folder against `cohort`'s truth, links kept at |weight| >= threshold."""
    run = Run(run_dir)
    return score_tables(run.latents(), run.graph_table(), cohort, threshold, r2)


def score_tables(latents, edges, cohort: Path, threshold: float, r2: bool = True) -> dict:
    """score_run on a run's latents and graph table already read (the dashboard keeps them cached)."""
    if edges is not None:
        edges = edges.assign(weight=edges["weight"].astype(float).abs())
    return score(latents, edges, load_truth(Path(cohort)), threshold=threshold, r2=r2)


def write_evaluation(run_dir: Path) -> dict | None:
    """Score a finished run against the truth of the cohort its config.json records and store evaluation.json;
    None (and nothing written) when that cohort has no truth."""
    run = Run(run_dir)
    cohort = recorded_cohort_path(run_dir, run.config)
    if cohort is None or not true_graph_path(cohort).is_file():
        return None
    threshold = float((run.config.get("graph") or {}).get("threshold", DEFAULT_THRESHOLD))
    digest = inputs_digest(run_dir, cohort)
    scores = score_run(run_dir, cohort, threshold)
    atomic_write_json(
        Path(run_dir) / EVALUATION_FILE,
        {"threshold": threshold, "inputs": digest, "scores": scores},
    )
    return scores


def evaluate_after_training(run_dir: Path) -> None:
    """write_evaluation, never failing the training it follows: without the file the pages score the run."""
    try:
        write_evaluation(run_dir)
    except (CrlError, OSError, ValueError):
        pass


def stored_evaluation(run_dir: Path, cohort: Path, threshold: float) -> dict | None:
    """The stored scores when they were computed at `threshold` against `cohort` from today's files, else None."""
    stored = read_json(Path(run_dir) / EVALUATION_FILE)
    if not isinstance(stored, dict) or not isinstance(stored.get("scores"), dict):
        return None
    try:
        same_threshold = abs(float(stored.get("threshold")) - float(threshold)) < 1e-12
    except (TypeError, ValueError):
        return None
    if not same_threshold or stored.get("inputs") != inputs_digest(run_dir, cohort):
        return None
    return stored["scores"]
