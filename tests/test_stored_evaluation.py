"""Training stores the run's scores against the truth (evaluation.json); pages use them only while they still
describe the run's and the truth's files."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from crl.analysis import stored_evaluation as stored_module
from crl.analysis.stored_evaluation import score_run, stored_evaluation
from crl.runs.run import DEFAULT_THRESHOLD


def test_training_stores_the_scores_a_fresh_scoring_gives(trained):
    cohort, run = trained
    saved = json.loads((run / "evaluation.json").read_text())
    assert saved["threshold"] == DEFAULT_THRESHOLD
    fresh = score_run(run, cohort, DEFAULT_THRESHOLD)
    assert saved["scores"]["mcc_per_modality"] == pytest.approx(fresh["mcc_per_modality"])
    assert saved["scores"]["r2"] == pytest.approx(fresh["r2"])
    assert saved["scores"]["graph"] == fresh["graph"]
    assert stored_evaluation(run, cohort, DEFAULT_THRESHOLD) == saved["scores"]


def test_the_dashboard_reads_the_stored_scores_and_scores_other_thresholds(trained, monkeypatch):
    from crl.ui import run_cache

    cohort, run = trained
    calls = []
    real = stored_module.score_tables
    monkeypatch.setattr(stored_module, "score_tables", lambda *a, **k: calls.append(a) or real(*a, **k))
    run_cache._evaluation.clear()
    at_recorded = run_cache.evaluation(run, cohort, DEFAULT_THRESHOLD)
    assert calls == [] and "r2" in at_recorded
    other = run_cache.evaluation(run, cohort, 0.05, r2=False)
    assert len(calls) == 1 and "r2" not in other


@pytest.mark.parametrize("change", ["latents", "truth", "damaged", "missing"])
def test_stale_or_damaged_scores_are_not_used(trained, tmp_path, change):
    cohort, run = trained
    run_copy, cohort_copy = tmp_path / "run", tmp_path / "cohort"
    shutil.copytree(run, run_copy)
    shutil.copytree(cohort, cohort_copy)
    assert stored_evaluation(run_copy, cohort_copy, DEFAULT_THRESHOLD) is not None
    if change == "latents":  # e.g. a run re-oriented or retrained in place
        table = pd.read_csv(run_copy / "latents.csv")
        table[table.columns[1]] *= -1
        table.to_csv(run_copy / "latents.csv", index=False)
    elif change == "truth":  # the cohort regenerated with another seed
        truth = pd.read_csv(cohort_copy / "truth" / "latents.csv")
        truth[truth.columns[1]] = truth[truth.columns[1]][::-1].to_numpy()
        truth.to_csv(cohort_copy / "truth" / "latents.csv", index=False)
    elif change == "damaged":
        (run_copy / "evaluation.json").write_text('{"threshold": 0.5, "scores": [')
    else:
        (run_copy / "evaluation.json").unlink()
    assert stored_evaluation(run_copy, cohort_copy, DEFAULT_THRESHOLD) is None
    assert stored_evaluation(run, cohort, DEFAULT_THRESHOLD + 0.1) is None  # another threshold: scored afresh
