"""evaluate_run on hand-made run folders whose right answers are known."""

import json

import numpy as np
import pandas as pd
import pytest

from crl.analysis.evaluate import evaluate_run
from crl.cli import main
from crl.data.synthetic import write_preset
from crl.data.truth import load_truth
from crl.errors import RunError


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_preset("paper-case1", tmp_path_factory.mktemp("c") / "cohort", n=300, seed=3)


def _fake_run(path, cohort, edges, transform=lambda z: z):
    """A run folder whose latents are a relabelled, transformed copy of the truth."""
    truth = load_truth(cohort)
    names = truth.latent_names
    # Swap the two latents inside each modality: evaluation must undo it through the matching.
    est_names = {n: n[:-1] + str(1 - int(n[-1])) for n in names}
    latents = transform(truth.latents).rename(columns=est_names)[names]
    path.mkdir()
    latents.reset_index().to_csv(path / "latents.csv", index=False)
    rows = [(s, t, 1.0 if (s, t) in edges else 0.0) for s in names for t in names if s != t]
    table = pd.DataFrame(rows, columns=["source", "target", "weight"])
    table["source"] = table["source"].map(est_names)
    table["target"] = table["target"].map(est_names)
    table.to_csv(path / "graph.csv", index=False)
    (path / "config.json").write_text(json.dumps({"cohort": {"path": str(cohort)}}))
    return truth


def test_perfect_relabelled_run_scores_one_and_zero_shd(tmp_path, cohort):
    truth = load_truth(cohort)
    _fake_run(tmp_path / "run", cohort, set(truth.edges), transform=lambda z: -3 * z + 1)
    result = evaluate_run(tmp_path / "run")
    assert result["mcc"] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in result["mcc_per_modality"].values())
    assert result["shd"] == 0 and result["shd_cross_modal"] == 0
    assert result["r2"] > 0.95


def test_missing_cross_modal_edge_costs_one(tmp_path, cohort):
    truth = load_truth(cohort)
    cross = truth.cross_modal_edges()[0]
    _fake_run(tmp_path / "run", cohort, set(truth.edges) - {cross})
    result = evaluate_run(tmp_path / "run", truth=cohort)
    assert result["shd"] == 1 and result["shd_cross_modal"] == 1
    assert result["graph"]["deletions"] == 1


def test_noise_latents_score_low(tmp_path, cohort):
    rng = np.random.default_rng(0)
    _fake_run(tmp_path / "run", cohort, set(), transform=lambda z: z * 0 + rng.normal(size=z.shape))
    result = evaluate_run(tmp_path / "run")
    assert result["mcc"] < 0.3
    assert result["r2"] < 0.2


def test_cli_reports_missing_run_in_plain_words(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "not a finished run folder" in err and "Traceback" not in err


def test_run_without_recorded_cohort_asks_for_truth(tmp_path, cohort):
    truth = load_truth(cohort)
    _fake_run(tmp_path / "run", cohort, set(truth.edges))
    (tmp_path / "run" / "config.json").write_text("{}")
    with pytest.raises(RunError, match="--truth"):
        evaluate_run(tmp_path / "run")
