"""The Evaluate page through AppTest: scores against ground truth, runs compared, missing truth and bad files."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crl.analysis.evaluate import evaluate_run
from crl.data.synthetic import write_preset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_fixtures import open_page  # noqa: E402
from run_factory import fake_run  # noqa: E402


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_preset("paper-case2", tmp_path_factory.mktemp("cohort") / "case2", n=300, seed=5)


def _open(**session) -> AppTest:
    return open_page("pages/evaluate.py", **session)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_scores_match_crl_evaluate_and_the_mcc_matrix_is_drawn(runs, cohort):
    run = fake_run(runs / "good", cohort, noise=0.1, drop_edges=1)
    at = _open()
    assert not at.error
    expected = evaluate_run(run)
    assert _metric(at, "MCC") == f"{expected['mcc_within_modality']:.3f}"
    assert _metric(at, "SHD") == str(expected["shd"]) == "1"
    # The same edge F1 as the Latent graph page: links whatever their direction.
    assert _metric(at, "Edge F1") == f"{expected['graph']['adjacency_f1']:.2f}"
    assert any(md.value.startswith("**In short:**") and "recovered" in md.value for md in at.markdown)
    assert float(_metric(at, "R²")) > 0.8
    charts = at.get("plotly_chart")
    spec = json.loads(charts[0].proto.spec)
    assert spec["data"][0]["type"] == "heatmap"  # the MCC matrix: true rows x learned columns
    assert spec["data"][0]["z"]["shape"].replace(" ", "") == "6,6"
    per_modality = at.dataframe[0].value
    assert set(per_modality["Modality"]) == {"M1", "M2"}  # modalities in words: no label is declared
    assert (per_modality["MCC"] > 0.9).all()
    each = next(d.value for d in at.dataframe if "True latent" in d.value.columns)
    assert len(each) == 6 and (each["|r|"] > 0.9).all() and (each["R²"] > 0.5).all()
    assert set(each["Modality"]) == {"M1", "M2"} and each["Learned match"].notna().all()


def test_compare_runs_lists_metrics_and_draws_loss_curves(runs, cohort):
    fake_run(runs / "good", cohort, noise=0.1)
    noisy = fake_run(runs / "noisy", cohort, noise=3.0, seed=1, steps=12)
    at = _open(run_dir=str(noisy))
    table = at.dataframe[-1].value
    assert list(table["Run"]) == ["noisy", "good"]
    assert table.set_index("Run").loc["good", "MCC"] > table.set_index("Run").loc["noisy", "MCC"]
    assert list(table["Logged steps"]) == [12, 30]
    curves = [c for c in at.get("plotly_chart") if "curves:" in str(c.proto.id) or "curves" in str(c.key)]
    assert len(curves) == 3  # the runs laid over each other, then each run's own terms
    overlaid = json.loads(curves[0].proto.spec)["data"]
    assert [t["name"] for t in overlaid if t.get("showlegend", True)] == ["noisy", "good"]
    at.multiselect[0].set_value([str(noisy)]).run()
    assert len(at.dataframe[-1].value) == 1


def test_runs_on_different_cohorts_are_named_and_flagged(runs, cohort, tmp_path):
    other = write_preset("paper-case2", tmp_path / "other", n=300, seed=6)
    fake_run(runs / "here", cohort)
    there = fake_run(runs / "there", other, seed=1)
    at = _open(run_dir=str(there))
    table = at.dataframe[-1].value.set_index("Run")
    # Both manifests say "paper-case2": the folder tells them apart.
    assert {table.loc["here", "Cohort"], table.loc["there", "Cohort"]} == {
        "paper-case2 (case2)",
        "paper-case2 (other)",
    }
    assert any("2 different cohorts" in c.value for c in at.caption)
    at.multiselect[0].set_value([str(there)]).run()
    assert not any("different cohorts" in c.value for c in at.caption)


def test_cohort_without_truth_gets_a_clear_message(runs, cohort, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(cohort, bare)
    fake_run(runs / "real", bare)
    shutil.rmtree(bare / "truth")
    at = _open()
    assert not at.error
    assert any("no ground truth" in i.value for i in at.info)
    assert not any(m.label == "MCC" for m in at.metric)
    note = at.dataframe[-1].value["Note"].iloc[0]
    assert "no ground truth" in note


def test_corrupt_latents_show_a_readable_error(runs, cohort):
    run = fake_run(runs / "broken", cohort)
    (run / "latents.csv").write_text("subject_id,m1.z0\ns0,not-a-number\n")
    at = _open()
    assert not at.exception
    message = " ".join(e.value for e in at.error).replace("\\", "")
    assert "latents.csv" in message and "Traceback" not in message


def test_no_run_explains_and_links_to_training(runs):
    at = _open()
    assert any("no trained model yet" in i.value for i in at.info)
    assert len(at.get("page_link")) == 1


def test_picking_a_run_makes_it_current(runs, cohort):
    first = fake_run(runs / "first", cohort)
    fake_run(runs / "second", cohort)
    at = _open(run_dir=str(runs / "second"))
    at.selectbox[0].set_value(str(first)).run()
    assert not at.exception
    assert at.session_state["run_dir"] == str(first)
    assert at.selectbox[0].value == str(first)


def test_true_latents_are_shown_by_their_plain_names_when_the_cohort_has_them(runs, cohort, tmp_path):
    named = tmp_path / "named"
    shutil.copytree(cohort, named)
    (named / "truth" / "latent_names.csv").write_text(
        "latent,name\nm1.z0,apnea severity\nm2.z1,vessel calibre\n"
    )
    fake_run(runs / "named", named, noise=0.1)
    at = _open()
    r2_table = next(d.value for d in at.dataframe if "True latent" in d.value.columns)
    assert {"apnea severity", "vessel calibre", "m1.z1"} <= set(r2_table["True latent"])
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "apnea severity" in json.dumps(spec["layout"]["yaxis"])  # the matrix rows
    assert any(
        "subjects of paper-case2" in c.value for c in at.caption
    )  # the manifest's name, not the folder's
