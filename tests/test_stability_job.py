"""Measuring a finished run's confidence as a job (crl.jobs.stability_job): in the background like training,
progress by restart, a second launch refused, the run readable throughout, stop/kill/crash reported and the
finished restarts kept for the next try."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crl.analysis.confidence import Confidence
from crl.errors import CrlError, RunError
from crl.jobs import StabilityJobRunning, job_status, resume_job, seconds_per_restart, start_stability_job
from crl.runs.files import atomic_write_json, read_json
from crl.runs.registry import host
from crl.runs.run import Run
from crl.ui.jobs_panel import progress_fraction, shown_eta, status_line

FAST = [
    *("--set", "train.epochs=3", "--set", "train.min_epochs=1", "--set", "train.batch_size=50"),
    *("--set", "train.min_steps=0"),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny run trained once (restart 0 only), finished."""
    import torch

    from crl.cli import main
    from crl.data.synthetic import write_preset

    torch.set_num_threads(1)
    base = tmp_path_factory.mktemp("stability-job")
    cohort = write_preset("paper-case1", base / "case1", n=150, seed=0)
    run = base / "tiny"
    assert main(["train", str(cohort), "--out", str(run), "--device", "cpu", *FAST]) == 0
    return run


@pytest.fixture
def run(trained, tmp_path, monkeypatch) -> Path:
    """A copy of the trained run, with its own job queue."""
    monkeypatch.setenv("CRL_QUEUE_DIR", str(tmp_path / "queue"))
    monkeypatch.setenv("CRL_THREADS", "1")
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    yield copy
    if job_status(copy)["alive"]:
        from crl.jobs import stop_job

        stop_job(copy, grace=6)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_background_job_trains_the_missing_restarts_while_the_run_stays_readable(run):
    before = read_json(run / "status.json")
    latents, graph = (run / "latents.csv").read_bytes(), (run / "graph.csv").read_bytes()
    start_stability_job(run, 3)
    with pytest.raises(StabilityJobRunning, match="already measuring its confidence"):
        start_stability_job(run, 4)
    seen, lines = [], set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = job_status(run)
        seen.append(status["state"])
        if status["state"] not in ("queued", "running"):
            break
        assert status["alive"] and status["job"] == "stability"
        assert Run(run).latents().shape[0] == 150  # readable and unchanged while the job runs
        lines.add(status_line(status).split(",")[0])
        time.sleep(0.05)
    assert "interrupted" not in seen and seen[-1] == "done", seen
    # Progress said which restart of how many (restart 1 is the run itself).
    assert {
        "Measuring confidence: training restart 2 of 3 on cpu",
        "Measuring confidence: training restart 3 of 3 on cpu",
    } <= lines, lines
    after = read_json(run / "status.json")
    assert after["stability"]["state"] == "done" and after["stability"]["trained"] == 2
    for key in ("epoch", "epochs", "best_validation_loss", "seconds", "progress"):
        assert after.get(key) == before.get(key), key  # the run reads as its training again
    assert (run / "latents.csv").read_bytes() == latents and (run / "graph.csv").read_bytes() == graph
    assert sorted(p.name for p in (run / "restarts").iterdir()) == ["0", "1", "2"]  # nothing left pending
    confidence = Confidence.of_run(run)
    assert confidence is not None and confidence.restarts == 3
    assert status_line(job_status(run)).startswith("Confidence measured across 3 restarts in")
    with pytest.raises(RunError, match="already has its confidence across 3 restarts; ask for more than 3"):
        start_stability_job(run, 3)


def test_bad_launches_are_refused_with_the_reason(run, tmp_path):
    with pytest.raises(RunError, match="between 2 and 20"):
        start_stability_job(run, 1)
    with pytest.raises(RunError, match="is not a finished run"):
        start_stability_job(tmp_path, 3)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished)
    atomic_write_json(unfinished / "status.json", {**read_json(run / "status.json"), "state": "stopped"})
    with pytest.raises(RunError, match="has not finished training .it is stopped.; resume it"):
        start_stability_job(unfinished, 3)
    assert read_json(unfinished / "status.json")["state"] == "stopped"  # nothing was queued


def test_a_stop_keeps_the_finished_restarts_and_a_killed_job_resumes_with_the_rest(run):
    def stop_after_the_first_new_restart() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (run / "restarts/.pending/1/graph.csv").exists():
            time.sleep(0.01)
        (run / "STOP").write_text("now")

    stopper = threading.Thread(target=stop_after_the_first_new_restart, daemon=True)
    stopper.start()
    start_stability_job(run, 3, background=False)
    stopper.join()
    status = job_status(run)
    assert status["state"] == "done" and status["stability"]["state"] == "stopped"
    assert status["stability"]["trained"] == 1
    assert "the 1 new restarts finished before the stop are kept" in status_line(status)
    assert not (run / "edge_confidence.csv").exists()  # no confidence from a part of the restarts
    assert (run / "restarts/.pending/1/graph.csv").exists()

    # The next try is killed before it trains anything: the run reads interrupted, resuming trains the rest.
    from crl.jobs.job_record import requeue

    requeue(run, "stability", stability={"restarts": 3, "to_train": 1, "trained": 0, "state": "queued"})
    atomic_write_json(
        run / "status.json",
        {**read_json(run / "status.json"), "state": "running", "pid": dead_pid(), "host": host()},
    )
    status = job_status(run)
    assert status["state"] == "interrupted" and "retry to train the rest" in status_line(status)
    resume_job(run, background=False)
    after = read_json(run / "status.json")
    assert after["state"] == "done" and after["stability"] == {
        **after["stability"],
        "state": "done",
        "to_train": 1,
    }
    assert Confidence.of_run(run).restarts == 3


def test_a_crashed_job_is_reported_and_leaves_the_run_as_it_was(run, tmp_path):
    with pytest.raises(RunError, match="the cohort folder .*gone is not there.*--cohort DIR"):
        start_stability_job(run, 2, cohort_dir=tmp_path / "gone")  # refused at once: nothing queued
    assert job_status(run)["state"] == "done" and "stability" not in job_status(run)
    (tmp_path / "empty").mkdir()  # a folder, but no cohort: the job itself fails
    with pytest.raises(CrlError):
        start_stability_job(run, 2, cohort_dir=tmp_path / "empty", background=False)
    status = job_status(run)
    assert status["state"] == "done" and not status["alive"]
    assert status["stability"]["state"] == "failed" and "empty" in status["stability"]["error"]
    assert status_line(status).startswith("Measuring confidence failed:")
    assert Run(run).latents().shape[0] == 150


def test_the_panel_counts_restarts_and_the_time_left_over_all_of_them():
    running = {
        "state": "running",
        "job": "stability",
        "stability": {"restarts": 4, "to_train": 3, "trained": 1, "restart": 2},
        "step": 50,
        "total_steps": 100,
        "steps_per_second": 10.0,
        "eta_seconds": 5.0,
        "device": "cpu",
        "epoch": 1,
        "epochs": 2,
    }
    assert progress_fraction(running) == pytest.approx((1 + 0.5) / 3)
    assert shown_eta(running) == pytest.approx(5.0 + 1 * 100 / 10.0)  # this restart, then one more
    assert status_line(running) == (
        "Measuring confidence: training restart 3 of 4 on cpu, epoch 1 of 2 · 1 of 3 new restarts done "
        "· about 15 s left."
    )
    queued = {"state": "queued", "job": "stability", "stability": {"restarts": 4, "to_train": 3}}
    assert progress_fraction(queued) == 0.0
    assert status_line(queued) == "Measuring confidence (4 restarts in all): waiting to start."


def test_the_time_per_restart_comes_from_the_runs_own_training(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    atomic_write_json(run / "status.json", {"state": "done", "seconds": 30.0})
    assert seconds_per_restart(run) == 30.0
    restarts = [{"restart": 0, "seconds": 10.0}, {"restart": 1, "seconds": 20.0}]
    atomic_write_json(run / "status.json", {"state": "done", "seconds": 30.0, "restarts": restarts})
    assert seconds_per_restart(run) == 15.0
    atomic_write_json(run / "status.json", {"state": "running", "training": {"state": "done", "seconds": 8}})
    assert seconds_per_restart(run) == 8.0  # a side job is running: the training's figures are set aside
    atomic_write_json(run / "status.json", {"state": "done"})
    assert seconds_per_restart(run) is None


def test_pending_restarts_are_not_counted_until_the_confidence_is_rewritten(tmp_path):
    import numpy as np
    import pandas as pd

    from crl.runs.confidence import promote_pending, restart_count, restart_indices, write_restart

    latents = pd.DataFrame({"subject_id": ["a", "b", "c"], "m.z0": [0.1, 0.2, 0.3]})
    for k in (0, 1):
        write_restart(tmp_path, k, latents, ["m.z0"], np.zeros((1, 1)), {"restart": k})
    write_restart(tmp_path, 2, latents, ["m.z0"], np.zeros((1, 1)), {"restart": 2}, pending=True)
    (tmp_path / "restarts/.pending/3").mkdir()  # cut short before its graph.csv: incomplete
    assert restart_count(tmp_path) == 2 and restart_indices(tmp_path, pending=True) == {2}
    assert promote_pending(tmp_path) == [2]
    assert restart_count(tmp_path) == 3 and not (tmp_path / "restarts/.pending").exists()


def test_crl_stability_background_starts_the_job_and_refuses_a_second_one(run, capsys):
    from crl.cli import main

    assert main(["stability", str(run), "--restarts", "2", "--background"]) == 0
    assert "in the background (1 restart to train)" in capsys.readouterr().out
    assert main(["stability", str(run), "--restarts", "2", "--background"]) == 1
    assert "is already measuring its confidence" in capsys.readouterr().err
    assert main(["stability", str(run), "--restarts", "3"]) == 1  # nor trains beside it in the foreground
    assert "is already measuring its confidence" in capsys.readouterr().err
    deadline = time.monotonic() + 120
    while job_status(run)["alive"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job_status(run)["stability"]["state"] == "done" and Confidence.of_run(run).restarts == 2
    assert main(["runs", "status", str(run)]) == 0
    assert "confidence across 2 restarts: done, 1 of 1 new restarts trained" in capsys.readouterr().out
