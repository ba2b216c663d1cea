"""The Train page through AppTest: start a real tiny job and watch it finish, stop and resume, refit at a new
sparsity weight, measure a finished run's confidence, and the runs list (failed, interrupted, rename, delete)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crl.config import apply_overrides, default_config
from crl.data import load_cohort
from crl.data.synthetic import write_preset
from crl.jobs import job_status, stop_job
from crl.runs.registry import boot_id, has_checkpoint, host, list_runs
from crl.runs.sparsity_path import read_index


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """A private runs folder and job queue; every job still alive at the end is stopped."""
    root = tmp_path / "runs"
    monkeypatch.setenv("CRL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CRL_RUNS", str(root))
    monkeypatch.setenv("CRL_QUEUE_DIR", str(tmp_path / "queue"))
    yield root
    for info in list_runs(root):
        if job_status(info.path)["alive"]:
            stop_job(info.path, grace=6)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return write_preset("paper-case1", tmp_path_factory.mktemp("cohorts") / "case1", n=200, seed=0)


def _train_page(cohort: Path, *overrides: str) -> AppTest:
    # Exactly the epochs asked for: the default minimum step count would stretch 2 epochs into thousands of steps.
    config = apply_overrides(default_config(load_cohort(cohort).schema()), ["train.min_steps=0", *overrides])
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["cohort_dir"] = str(cohort)
    at.session_state["model_config"] = {"cohort": str(cohort), "config": config.to_dict()}
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    return at


def _plain(text: str) -> str:
    return text.replace("\\", "")


def _progress(at: AppTest) -> tuple[str, int]:
    bars = at.get("progress")
    return (_plain(bars[0].proto.text), bars[0].proto.value) if bars else ("", -1)


def _wait(at: AppTest, done, timeout: float = 120.0, what: str = "") -> AppTest:
    """Rerun the page (as the fragment's timer would) until `done(at)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return at
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}; progress: {_progress(at)[0]!r}")


def _messages(at: AppTest, kind: str) -> str:
    return " ".join(_plain(e.value) for e in getattr(at, kind))


def _only_run(root: Path) -> Path:
    found = list_runs(root)
    assert len(found) == 1
    return found[0].path


def test_a_tiny_job_runs_to_the_end_then_refits_at_a_new_sparsity(cohort, runs):
    at = _train_page(cohort, "train.epochs=2")
    assert "2 epochs" in _messages(at, "markdown")
    assert any("No runs of yours yet" in i.value for i in at.info)
    at.text_input(key="train_new_name").set_value("tiny").run()
    at.button(key="train_start").click().run()
    assert "Started tiny" in _messages(at, "success")
    run = _only_run(runs)
    assert run.name == "tiny" and (run / "job.json").exists()

    _wait(at, lambda a: _progress(a)[0].startswith("Finished"), what="the job to finish")
    text, value = _progress(at)
    assert value == 100 and "on cpu" in text
    assert "tiny finished" in _messages(at, "success")
    assert at.session_state["run_dir"] == str(run)  # the result pages now show it
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epoch"] == "2 / 2" and metrics["Device"] == "cpu"
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {trace["name"] for trace in chart["data"]}
    assert "Total loss" in names and "Reconstruction error" in names
    assert "done" in at.dataframe[-1].value["State"].iloc[0]

    at.text_input(key="train_refit_weights").set_value("0.05").run()
    at.number_input(key="train_refit_epochs").set_value(1).run()
    at.button(key="train_refit").click().run()
    assert "Started a re-fit of tiny" in _messages(at, "success")
    _wait(at, lambda a: len(read_index(run)) == 1 and not job_status(run)["alive"], what="the re-fit")
    at.run()
    levels = at.dataframe[0].value  # the sparsity path table under the run
    assert list(levels["Sparsity weight"]) == [pytest.approx(0.05)]


def test_stop_then_resume_from_the_checkpoint(cohort, runs):
    at = _train_page(cohort, "train.epochs=5000", "train.batch_size=32", "train.checkpoint_every=1")
    at.button(key="train_start").click().run()
    run = _only_run(runs)
    _wait(
        at,
        lambda a: _progress(a)[0].startswith("Training") and _progress(a)[1] >= 0,
        what="training to start",
    )
    _wait(at, lambda a: (job_status(run).get("step") or 0) > 10, what="a few steps")
    at.button(key="job_stop").click().run()
    _wait(at, lambda a: job_status(run)["state"] == "stopped", timeout=60, what="the stop")
    at.run()
    assert _progress(at)[0].startswith("Stopped")
    assert has_checkpoint(run)
    assert at.button(key="train_resume").label == "Resume from the last checkpoint"
    stopped_at = job_status(run)["step"]

    at.button(key="train_resume").click().run()
    assert "Resuming" in _messages(at, "success")
    _wait(at, lambda a: (job_status(run).get("resumed_from_step") or -1) >= 0, what="the resumed job")
    assert job_status(run)["resumed_from_step"] <= stopped_at
    stop_job(run, grace=6)
    _wait(at, lambda a: _progress(a)[0].startswith("Stopped"), timeout=60, what="the second stop")


def test_refused_starts_say_why_and_start_nothing(cohort, runs):
    at = _train_page(cohort, "train.epochs=2")
    at.text_input(key="train_new_name").set_value("no/slashes").run()
    at.button(key="train_start").click().run()
    assert "cannot name a run" in _messages(at, "error")
    at.text_input(key="train_new_name").set_value("").run()
    at.text_input(key="train_new_path").set_value("0.1, lots").run()
    at.button(key="train_start").click().run()
    assert "lots" in _messages(at, "error") and "is not a number" in _messages(at, "error")
    assert list_runs(runs) == []

    at = _train_page(cohort, "train.epochs=2", "train.device=cuda:99")
    at.button(key="train_start").click().run()
    assert "train.device is 'cuda:99'" in _messages(at, "error")
    assert list_runs(runs) == []


def _fake_run(root: Path, name: str, status: dict, created: float, **files: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "status.json").write_text(json.dumps({"created": created, **status}))
    for file, text in files.items():
        (path / file.replace("_", ".")).write_text(text)
    return path


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_failed_and_interrupted_runs_are_explained(cohort, runs):
    now = time.time()
    _fake_run(runs, "broken", {"state": "failed", "error": "the loss became NaN at step 3"}, now - 60)
    owner = {"pid": _dead_pid(), "host": host(), "boot_id": boot_id()}
    job = json.dumps({"cohort": str(cohort), "config": None})
    _fake_run(runs, "vanished", {"state": "running", "epoch": 4, "epochs": 10, **owner}, now, job_json=job)
    at = _train_page(cohort)
    assert at.selectbox(key="train_run_pick").value.endswith("vanished")  # newest first
    assert _progress(at)[0].startswith("Interrupted")
    assert at.button(key="train_resume").label == "Start this run again"  # no checkpoint yet
    at.selectbox(key="train_run_pick").set_value(str(runs.resolve() / "broken")).run()
    assert "the loss became NaN at step 3" in _messages(at, "error")
    states = list(at.dataframe[-1].value["State"])
    assert any("interrupted" in s for s in states) and any("failed" in s for s in states)


def test_rename_and_delete_a_run(cohort, runs):
    old = _fake_run(runs, "first", {"state": "done"}, time.time(), graph_csv="source,target,weight\n")
    at = _train_page(cohort)
    at.text_input(key="train_rename_first").set_value("bad name!").run()
    at.button(key="train_rename").click().run()
    assert "cannot name a run" in _messages(at, "error") and old.exists()

    at.text_input(key="train_rename_first").set_value("renamed").run()
    at.button(key="train_rename").click().run()
    assert not old.exists() and (runs / "renamed").is_dir()
    assert at.selectbox(key="train_run_pick").value.endswith("renamed")

    at.button(key="train_delete").click().run()
    assert "Tick the box" in _messages(at, "error") and (runs / "renamed").is_dir()
    at.checkbox(key="train_delete_ok_renamed").check().run()
    at.button(key="train_delete").click().run()
    assert not (runs / "renamed").exists()
    assert "Deleted renamed" in _messages(at, "success")
    assert any("No runs of yours yet" in i.value for i in at.info)


def test_status_helpers_read_what_jobs_write():
    from crl.ui.jobs_panel import duration_text, memory_text, progress_fraction, status_line

    running = {
        "state": "running",
        "step": 50,
        "total_steps": 200,
        "epoch": 1,
        "epochs": 8,
        "device": "cuda:0",
    }
    assert progress_fraction(running) == pytest.approx(0.25)
    assert progress_fraction({"state": "running", "epoch": 2, "epochs": 8}) == pytest.approx(0.25)
    assert progress_fraction({"state": "done", "epoch": 3, "epochs": 8}) == 1.0
    assert progress_fraction({"state": "queued"}) == 0.0
    assert memory_text({"gpu_memory_peak_mb": 1536.0, "gpu_memory_total_mb": 81920.0}) == "1.5 of 80 GB"
    assert memory_text({"gpu_memory_mb": 512.0}) == "0.5 GB"
    assert memory_text({}) == "—"
    assert duration_text(75) == "1 min 15 s" and duration_text(None) == "—"
    assert "on auto" not in status_line({"state": "queued", "device": "auto"})
    assert status_line({"state": "interrupted"}).startswith("Interrupted")
    early = status_line({"state": "done", "epoch": 190, "epochs": 300})
    assert "Stopped early at epoch 190 of 300" in early
    assert "Stopped early" not in status_line({"state": "done", "epoch": 300, "epochs": 300})
    assert status_line({**running, "phase": "sparsity path"}).startswith("Sparsity path: training on cuda:0")


def test_the_summary_says_which_device_auto_picks(cohort, runs):
    import torch

    picked = "this machine's GPU" if torch.cuda.is_available() else "the CPU: this machine has no usable GPU"
    shown = " ".join(_plain(m.value) for m in _train_page(cohort).markdown)
    assert f"device auto ({picked}" in shown
    shown = " ".join(_plain(m.value) for m in _train_page(cohort, "train.device=cpu").markdown)
    assert "device cpu." in shown and "device auto" not in shown


def test_a_finished_run_measures_its_confidence_in_the_background(cohort, runs):
    import re

    from crl.cli import main

    run = runs / "tiny"
    fast = [
        *("--set", "train.epochs=2", "--set", "train.min_epochs=1", "--set", "train.batch_size=100"),
        *("--set", "train.min_steps=0"),
    ]
    assert main(["train", str(cohort), "--out", str(run), "--device", "cpu", *fast]) == 0
    at = _train_page(cohort)
    key = "train_stability_restarts_tiny"
    assert at.number_input(key=key).value == 4
    assert at.button(key="train_stability").label == "Measure confidence: train 3 more restarts"
    captions = " ".join(_plain(c.value) for c in at.caption)
    assert re.search(r"About \d+ s: 3 × the \d+ s this run took to train", captions), captions

    at.number_input(key=key).set_value(2).run()
    assert at.button(key="train_stability").label == "Measure confidence: train 1 more restart"
    at.button(key="train_stability").click().run()
    assert "Started measuring the confidence of tiny: 1 more restart" in _messages(at, "success")
    assert job_status(run)["job"] == "stability"
    _wait(
        at,
        lambda a: _progress(a)[0].startswith("Confidence measured across 2 restarts"),
        what="the confidence measurement",
    )
    assert "The confidence of tiny is measured across 2 restarts" in _messages(at, "success")
    assert at.session_state["run_dir"] == str(run)  # the Latent graph page shows it
    assert (run / "edge_confidence.csv").exists() and (run / "latent_stability.csv").exists()
    # Measured: the control says so and offers more restarts.
    assert any("measured across 2 restarts" in _plain(m.value) for m in at.markdown)
    assert at.button(key="train_stability").label == "Measure confidence: train 2 more restarts"


def test_a_stopped_or_interrupted_confidence_measurement_says_what_is_kept_and_offers_the_rest(cohort, runs):
    graph = "source,target,weight\n"
    stopped = {"state": "stopped", "restarts": 4, "to_train": 3, "trained": 1, "seconds": 12.0}
    _fake_run(
        runs,
        "stopped",
        {"state": "done", "seconds": 5.0, "job": "stability", "stability": stopped},
        time.time() - 60,
        graph_csv=graph,
    )
    (runs / "stopped/restarts/.pending/1").mkdir(parents=True)
    (runs / "stopped/restarts/.pending/1/graph.csv").write_text(graph)
    owner = {"pid": _dead_pid(), "host": host(), "boot_id": boot_id()}
    record = {"restarts": 3, "to_train": 2, "trained": 0, "restart": 1, "state": "running"}
    aside = {"training": {"state": "done", "seconds": 5.0}}
    status = {"state": "running", "job": "stability", "stability": record, **aside, **owner}
    _fake_run(runs, "killed", status, time.time(), graph_csv=graph)

    at = _train_page(cohort)
    assert at.selectbox(key="train_run_pick").value.endswith("killed")
    assert _progress(at)[0].startswith("Interrupted: measuring confidence ended without finishing")
    assert at.button(key="train_resume").label == "Retry measuring confidence"

    at.selectbox(key="train_run_pick").set_value(str(runs.resolve() / "stopped")).run()
    text = _progress(at)[0]
    assert text.startswith("Measuring confidence stopped on request after 12 s; the 1 new restarts finished")
    # Restart 1 waits in restarts/.pending/: asking for 4 in all trains the 2 still missing, in 2 x 5 s.
    assert at.button(key="train_stability").label == "Measure confidence: train 2 more restarts"
    assert "About 10 s: 2 × the 5 s this run took to train" in " ".join(_plain(c.value) for c in at.caption)


def test_the_page_announces_the_steps_and_why_a_small_cohort_trains_more_epochs(cohort, runs):
    from crl.engine.schedules import plan_for_cohort

    at = _train_page(cohort, "train.epochs=2", "train.min_steps=3000", "train.batch_size=32")
    plan = plan_for_cohort(
        apply_overrides(
            default_config(load_cohort(cohort).schema()),
            ["train.epochs=2", "train.min_steps=3000", "train.batch_size=32"],
        ),
        200,
    )
    text = _messages(at, "markdown")
    assert plan.total_steps >= 3000 and plan.epochs > 2
    assert f"up to **{plan.total_steps:,} optimisation steps** ({plan.epochs:,} epochs of" in text
    assert "more than the 2 epochs asked for" in text
    exact = _messages(_train_page(cohort, "train.epochs=2", "train.batch_size=32"), "markdown")
    assert "(2 epochs of 5, batch 32)" in exact and "more than" not in exact


def test_a_finished_run_without_a_cross_modal_link_is_flagged(cohort, runs):
    import pandas as pd

    from crl.cli import main

    run = runs / "unlinked"
    fast = ["--set", "train.epochs=2", "--set", "train.min_steps=0", "--set", "train.batch_size=100"]
    assert main(["train", str(cohort), "--out", str(run), "--device", "cpu", *fast]) == 0
    graph = pd.read_csv(run / "graph.csv")
    graph["weight"] = 0.0  # every link below any threshold
    graph.to_csv(run / "graph.csv", index=False)
    assert any("learned no link across modalities" in w.value for w in _train_page(cohort).warning)
    graph.loc[(graph["source"] == "m1.z0") & (graph["target"] == "m2.z0"), "weight"] = 0.9
    graph.to_csv(run / "graph.csv", index=False)
    assert not any("learned no link" in w.value for w in _train_page(cohort).warning)


def test_the_page_counts_subjects_lacking_a_modality_whom_training_infers(cohort, runs, tmp_path):
    import shutil

    import pandas as pd

    partial = tmp_path / "partial"
    shutil.copytree(cohort, partial)
    table = pd.read_csv(partial / "m2.csv", dtype={"subject_id": str})
    table.iloc[5:].to_csv(partial / "m2.csv", index=False)  # five subjects without m2
    inferred = _messages(_train_page(partial), "markdown")
    assert "200 subjects: 195 with every modality and 5 lacking one" in inferred
    dropped = _messages(_train_page(partial, "train.missing_modalities=drop"), "markdown")
    assert "(195 subjects)" in dropped and "lacking one" not in dropped
