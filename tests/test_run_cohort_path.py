"""A run folder's recorded cohort: absolute when written, relative paths read from the run folder (relocation)."""

from __future__ import annotations

import json
import shutil

from crl.analysis.evaluate import evaluate_run
from crl.data.load import load_cohort
from crl.data.synthetic import write_preset
from crl.data.truth import load_truth
from crl.runs.folder import RunFolder, recorded_cohort_path
from crl.runs.registry import run_info


def _run_beside(cohort_dir, run_dir):
    """A finished-looking run whose latents are the truth and whose config.json points at "../cohort"."""
    truth = load_truth(cohort_dir)
    run_dir.mkdir(parents=True)
    truth.latents.reset_index().to_csv(run_dir / "latents.csv", index=False)
    rows = ["source,target,weight"] + [
        f"{s},{t},{1.0 if (s, t) in set(truth.edges) else 0.0}"
        for s in truth.latent_names
        for t in truth.latent_names
        if s != t
    ]
    (run_dir / "graph.csv").write_text("\n".join(rows) + "\n")
    (run_dir / "config.json").write_text(json.dumps({"cohort": {"name": "c", "root": "../cohort"}}))
    (run_dir / "status.json").write_text(json.dumps({"state": "done"}))


def test_start_records_an_absolute_cohort_path_even_from_a_relative_one(tmp_path, monkeypatch):
    write_preset("paper-case1", tmp_path / "cohort", n=60, seed=1)
    monkeypatch.chdir(tmp_path)
    cohort = load_cohort("cohort")  # relative to the working directory, as `crl train cohort` passes it
    from crl.config import default_config

    RunFolder(tmp_path / "runs" / "r").start(default_config(cohort.schema()), cohort, device="cpu")
    recorded = json.loads((tmp_path / "runs" / "r" / "config.json").read_text())["cohort"]["root"]
    assert recorded == str((tmp_path / "cohort").resolve())
    monkeypatch.chdir(tmp_path / "runs")  # another working directory must not change what it points at
    assert recorded_cohort_path(tmp_path / "runs" / "r") == (tmp_path / "cohort").resolve()


def test_relative_cohort_path_is_read_from_the_run_folder_after_moving_both(tmp_path, monkeypatch):
    write_preset("paper-case1", tmp_path / "a" / "cohort", n=200, seed=2)
    _run_beside(tmp_path / "a" / "cohort", tmp_path / "a" / "run")
    shutil.move(tmp_path / "a", tmp_path / "b")
    monkeypatch.chdir(tmp_path)  # neither the old place nor the working directory holds "../cohort"
    run = tmp_path / "b" / "run"
    assert (recorded_cohort_path(run) / "cohort.toml").is_file()
    result = evaluate_run(run)  # no --truth: found through the relative record
    assert result["mcc"] > 0.99 and result["shd"] == 0
    assert run_info(run).cohort == "cohort"


def test_older_path_key_and_missing_records(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"cohort": {"path": "/data/x"}}))
    assert str(recorded_cohort_path(tmp_path)) == "/data/x"
    (tmp_path / "config.json").write_text(json.dumps({"cohort": {"name": "x", "root": None}}))
    assert recorded_cohort_path(tmp_path) is None
    (tmp_path / "config.json").write_text("{not json")
    assert recorded_cohort_path(tmp_path) is None
    assert recorded_cohort_path(tmp_path / "absent") is None


def test_dashboard_and_resume_find_a_relative_cohort(tmp_path, monkeypatch):
    from crl.jobs.control import _job_from_run
    from crl.runs.files import JOB_FILE
    from crl.ui.model_cache import trained_cohort

    write_preset("paper-case1", tmp_path / "demo" / "cohort", n=60, seed=4)
    _run_beside(tmp_path / "demo" / "cohort", tmp_path / "demo" / "run")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "demo" / "run"
    assert trained_cohort(run).resolve() == (tmp_path / "demo" / "cohort").resolve()
    _job_from_run(run)  # what resuming a plain `crl train` run writes first
    job = json.loads((run / JOB_FILE).read_text())
    assert job["cohort"] == str((tmp_path / "demo" / "cohort").resolve())
