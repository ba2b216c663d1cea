"""A refit right after training (the Train page's Refit button): the new job must read as queued, then running,
then done, never as the dead training job's "interrupted"; its figures must not mix with the training's; its
ETA must wait for a measured speed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from crl.jobs import JobControl, job_status, refit_job
from crl.runs.files import atomic_write_json, read_json
from crl.runs.registry import boot_id, host, list_runs
from crl.ui.jobs_panel import status_line

TINY = [
    "--device",
    "cpu",
    "--set",
    "train.epochs=3",
    "--set",
    "train.min_epochs=1",
    "--set",
    "train.min_steps=0",
]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny run trained by `crl train` in its own process, which has exited: its pid is a dead one."""
    from crl.data.synthetic import write_preset

    base = tmp_path_factory.mktemp("refit")
    cohort = write_preset("paper-case1", base / "case1", n=200, seed=0)
    run = base / "runs" / "tiny"
    command = [sys.executable, "-m", "crl.cli", "train", str(cohort), "--out", str(run), *TINY]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return run


def test_a_background_refit_reads_queued_running_done_and_never_interrupted(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("CRL_QUEUE_DIR", str(tmp_path / "queue"))
    monkeypatch.setenv("CRL_THREADS", "1")
    before = read_json(trained / "status.json")
    assert before["state"] == "done" and not job_status(trained)["alive"]
    refit_job(trained, [0.1], epochs=20)
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = job_status(trained)
        seen.append(status["state"])
        if status["state"] not in ("queued", "running"):
            break
        assert status["alive"]
        # A speed measured over real steps, not over the first step's microsecond (3 million steps a second).
        assert (status.get("steps_per_second") or 0) < 1e5
        time.sleep(0.05)
    assert "interrupted" not in seen, seen
    assert seen[0] in ("queued", "running") and seen[-1] == "done", seen
    after = read_json(trained / "status.json")
    # The run reads as the training that made its model again, with the refit's outcome beside it.
    for key in ("epoch", "epochs", "best_epoch", "best_validation_loss", "seconds", "progress"):
        assert after.get(key) == before.get(key), key
    assert after["job"] == "refit" and "training" not in after
    assert after["refit"]["state"] == "done" and after["refit"]["weights"] == [0.1]
    assert after["refit"]["seconds"] > 0 and after.get("pid") != before.get("pid")

    assert status_line(job_status(trained)).startswith("Refit at sparsity 0.1 done in")


def _finished_run(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "graph.csv").write_text("source,target,weight\n")
    atomic_write_json(
        path / "status.json",
        {
            "state": "done",
            "pid": dead_pid(),
            "host": host(),
            "boot_id": boot_id(),
            "epoch": 79,
            "epochs": 80,
            "best_epoch": 79,
            "seconds": 7.0,
            "eta_seconds": 0.0,
            "steps_per_second": 3e6,
            "progress": {"epoch": 80, "epochs": 80},
        },
    )
    atomic_write_json(path / "job.json", {"cohort": str(path)})
    return path


def test_requeue_clears_the_old_jobs_pid_and_figures_and_a_refit_keeps_the_training_aside(tmp_path):
    from crl.jobs.job_record import finish_refit, requeue

    run = _finished_run(tmp_path / "run")
    (run / "heartbeat.json").write_text(json.dumps({"pid": 1, "time": 0}))
    status = requeue(run, "refit", refit={"weights": [0.1]})
    for key in (
        "pid",
        "host",
        "boot_id",
        "eta_seconds",
        "steps_per_second",
        "epoch",
        "best_epoch",
        "seconds",
    ):
        assert key not in status, key
    assert status["state"] == "queued" and status["training"]["epoch"] == 79
    assert not (run / "heartbeat.json").exists()
    # An "Epoch 25/25" of the refit beside a "Finished after 7 s (epoch 79)" of the training: never both.
    atomic_write_json(run / "status.json", {**status, "state": "running", "epoch": 25, "epochs": 25})
    assert list_runs(tmp_path)[0].epoch == 79  # the runs list shows the training while the refit runs
    restored = finish_refit(run, "done")
    assert restored["state"] == "done" and restored["epoch"] == 79 and restored["epochs"] == 80
    assert restored["seconds"] == 7.0 and restored["refit"]["state"] == "done" and "training" not in restored


def test_the_launcher_pid_replaces_a_stale_one(tmp_path):
    from crl.jobs.control import _record_launcher

    run = _finished_run(tmp_path / "run")
    status = read_json(run / "status.json")
    atomic_write_json(run / "status.json", {**status, "state": "queued"})
    assert job_status(run)["state"] == "interrupted"  # the old job's dead pid stands for the new job
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _record_launcher(run, child.pid)
        assert job_status(run)["state"] == "queued" and job_status(run)["alive"]
    finally:
        child.kill()
        child.wait()


def test_the_eta_waits_for_a_measured_speed(tmp_path, monkeypatch):
    import crl.jobs.heartbeat as heartbeat

    clock = [1000.0]
    monkeypatch.setattr(heartbeat, "time", SimpleNamespace(monotonic=lambda: clock[0], time=time.time))
    control = JobControl(tmp_path)
    control.on_start({"epochs": 25, "steps_per_epoch": 4, "device": "cpu"})
    etas = []
    for step in range(1, 21):
        clock[0] += 0.5  # two steps a second: 100 steps take 50 s
        control.on_step({"step": step, "epoch": (step - 1) // 4})
        etas.append(read_json(tmp_path / "status.json").get("eta_seconds"))
    assert etas[0] is None and etas[1] is None  # one step in a microsecond once said "0 s left"
    assert etas[-1] == pytest.approx((100 - 20) / 2, rel=0.05)


def test_the_panel_shows_an_eta_and_a_refit_only_when_they_mean_something():
    from crl.ui.jobs_panel import shown_eta

    running = {"state": "running", "step": 2, "total_steps": 1000, "eta_seconds": 0.0}
    assert shown_eta(running) is None and "left" not in status_line(running)
    running.update(step=100, eta_seconds=90.0)
    assert shown_eta(running) == 90.0 and "about 1 min 30 s left" in status_line(running)
    assert shown_eta({**running, "state": "done"}) is None
    refit = {"job": "refit", "refit": {"weights": [0.1], "state": "queued"}}
    assert status_line({**refit, "state": "queued"}) == "Refit at sparsity 0.1: waiting to start."
    line = status_line({**refit, "state": "running", "epoch": 3, "epochs": 25, "device": "cpu"})
    assert line.startswith("Refit at sparsity 0.1: training on cpu: epoch 3 of 25")
    done = {"state": "done", "seconds": 7.0, "job": "refit", "refit": {"weights": [0.1, 1], "seconds": 4}}
    done["refit"]["state"] = "done"
    assert status_line(done).startswith("Refit along sparsity weights 0.1, 1 done in 4 s. Finished after 7 s")
    assert "Interrupted" in status_line({**refit, "state": "interrupted"})
    assert "retry the refit" in status_line({**refit, "state": "interrupted"})


def _cut_short(run: Path, weights: list[float]) -> None:
    """The state a refit killed mid-way leaves: queued for a refit, a dead pid, the training set aside."""
    from crl.jobs.job_record import requeue

    requeue(run, "refit", refit={"weights": weights, "epochs": 5, "state": "queued"})
    status = read_json(run / "status.json")
    atomic_write_json(run / "status.json", {**status, "state": "running", "pid": dead_pid(), "host": host()})


def test_resume_after_a_killed_refit_runs_the_refit_again(trained, tmp_path):
    import shutil

    from crl.jobs import resume_job
    from crl.runs.sparsity_path import read_index

    run = tmp_path / "copy"
    shutil.copytree(trained, run)
    before = read_json(run / "status.json")
    _cut_short(run, [0.2])
    atomic_write_json(run / "refit.json", {"weights": [0.2], "epochs": 5})
    status = job_status(run)
    assert status["state"] == "interrupted" and status["resumable"]
    assert "retry the refit" in status_line(status)
    resume_job(run, background=False)
    after = read_json(run / "status.json")
    assert after["state"] == "done" and after["refit"]["state"] == "done"
    assert after["epoch"] == before["epoch"] and 0.2 in [lv["sparsity"] for lv in read_index(run)]


def test_resume_after_a_refit_killed_once_its_levels_were_saved_marks_it_done(tmp_path):
    from crl.jobs import resume_job

    run = _finished_run(tmp_path / "run")
    _cut_short(run, [0.1])  # no refit.json: the refit had saved its levels and removed it
    resume_job(run, background=False)
    after = read_json(run / "status.json")
    assert after["state"] == "done" and after["epoch"] == 79 and after["refit"]["state"] == "done"
