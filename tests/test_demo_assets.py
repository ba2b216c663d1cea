"""The shipped demo (assets/demo): the cohort validates, the run loads, points at its cohort and stays small."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from crl.analysis.evaluate import evaluate_run
from crl.analysis.graph import load_graph
from crl.analysis.names import default_names, load_names
from crl.data.cohort import Modality
from crl.data.load import load_cohort
from crl.data.validate import validate_cohort
from crl.engine.fit import encode_cohort, latent_table
from crl.runs.checkpoint import check_compatible, load_run
from crl.runs.folder import recorded_cohort_path

# CRL_DEMO_DIR checks a rebuilt demo (scripts/build_demo.py --out DIR) before it replaces assets/demo.
ASSETS = Path(os.environ.get("CRL_DEMO_DIR") or Path(__file__).resolve().parents[1] / "assets")
DEMO = ASSETS if os.environ.get("CRL_DEMO_DIR") else ASSETS / "demo"
COHORT = DEMO / "cohort"
RUN = DEMO / "run"
MAX_FILE_BYTES = 15 * 1024**2
# The cohort (~29 MB: photographs deflate-compressed, 9 MB more than bzip2 but decoded in 0.3 s instead of
# 2.1 s on a presenter's first page) and a float16 model with its restarts (~11 MB).
MAX_TOTAL_BYTES = 40 * 1024**2


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(COHORT)


@pytest.fixture(scope="module")
def latents() -> pd.DataFrame:
    return pd.read_csv(RUN / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")


def test_assets_stay_small_and_carry_no_optimiser_state():
    files = [p for p in ASSETS.rglob("*") if p.is_file()]
    sizes = {str(p.relative_to(ASSETS)): p.stat().st_size for p in files}
    assert all(size <= MAX_FILE_BYTES for size in sizes.values()), sizes
    assert sum(sizes.values()) <= MAX_TOTAL_BYTES, sum(sizes.values())
    assert not (RUN / "training_state.pt").exists()


def test_shipped_cohort_validates_with_its_three_modalities_and_truth():
    report = validate_cohort(COHORT)
    assert report.ok, report.format()
    assert (COHORT / "truth" / "latents.csv").is_file() and (COHORT / "truth" / "graph.csv").is_file()
    manifest = (COHORT / "cohort.toml").read_text()
    assert all(f"[modalities.{m}]" in manifest for m in ("sleep", "fundus_left", "fundus_right"))


def test_run_points_at_the_shipped_cohort_relative_to_itself():
    config = json.loads((RUN / "config.json").read_text())
    recorded = config["cohort"]["root"]
    assert not Path(recorded).is_absolute()  # an absolute path would name the machine that built it
    assert recorded_cohort_path(RUN).resolve() == COHORT.resolve()
    status = json.loads((RUN / "status.json").read_text())
    assert status["state"] == "done" and "pid" not in status


def test_graph_and_latents_cover_every_latent_of_every_subject(cohort, latents):
    graph = load_graph(RUN)
    names = list(latents.columns)
    assert list(graph.names) == names and len(names) == 9
    assert np.isfinite(graph.weights).all() and np.isfinite(latents.to_numpy()).all()
    assert list(latents.index) == [str(s) for s in cohort.subject_ids]
    shown = load_names(RUN, default_names(names))
    assert len(set(shown.values())) == len(names)  # names.json, when present, keeps names distinct


def test_checkpoint_reloads_and_reproduces_latents_csv(cohort, latents):
    torch.set_num_threads(1)
    model, config, normaliser = load_run(RUN)
    check_compatible(model.schema, cohort)
    rows = np.arange(0, len(cohort), 41)  # a spread of subjects keeps the test quick
    subset = replace(
        cohort,
        subject_ids=cohort.subject_ids[rows],
        modalities={k: replace(m, data=m.data[rows]) for k, m in cohort.modalities.items()},
        covariates=None,
    )
    assert all(isinstance(m, Modality) for m in subset.modalities.values())
    table = latent_table(model, subset, encode_cohort(model, subset, normaliser)).set_index("subject_id")
    stored = latents.loc[table.index, table.columns]
    np.testing.assert_allclose(table.to_numpy(), stored.to_numpy(), rtol=1e-3, atol=1e-3)


def test_the_shipped_scores_are_those_of_the_shipped_files():
    from crl.analysis.stored_evaluation import stored_evaluation

    stored = stored_evaluation(RUN, COHORT, 0.5)
    assert stored is not None, "assets/demo/run/evaluation.json is stale: rerun scripts/build_demo.py"
    fresh = evaluate_run(RUN)
    assert stored["mcc_per_modality"] == pytest.approx(fresh["mcc_per_modality"])
    assert stored["shd"] == fresh["shd"]


def test_evaluation_finds_the_truth_through_the_relative_path():
    result = evaluate_run(RUN)  # no --truth: config.json's "../cohort" is enough
    assert result["subjects"] > 0.95 * len(pd.read_csv(COHORT / "truth" / "latents.csv"))
    assert set(result["mcc_per_modality"]) == {"sleep", "fundus_left", "fundus_right"}
    assert 0.0 <= result["mcc"] <= 1.0 and result["shd"] >= 0
