"""Background jobs: the slot queue, the stop protocol, live status, kill -9 and resume, all with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crl.jobs import JobControl, job_status, stop_job, trim_metrics
from crl.runs.files import atomic_write_json, read_json, read_jsonl
from crl.runs.registry import owner_record

ROOT = Path(__file__).resolve().parents[1]


def kill_group(process: subprocess.Popen) -> None:
    """Kill a child started in its own session, with everything it started (no orphans)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(timeout=10)


@pytest.fixture
def queue(tmp_path, monkeypatch):
    folder = tmp_path / "queue"
    monkeypatch.setenv("CRL_QUEUE_DIR", str(folder))
    return folder


SLOT_USER = """
import json, os, sys, time
from crl.jobs import acquire_slot
told = []
def in_line(position):
    if not told:
        told.append(position)
        print("in line", flush=True)
slot = acquire_slot("cpu", lambda: False, on_wait=in_line, configured=int(sys.argv[2]), poll=0.05)
start = time.time()
if not told:
    print("acquired", flush=True)
time.sleep(0.3)
while len(sys.argv) > 3 and not os.path.exists(sys.argv[3]):  # hold the slot until the test says so
    time.sleep(0.02)
end = time.time()
slot.release()
with open(sys.argv[1], "w") as f:
    json.dump({"start": start, "end": end, "slot": slot.index}, f)
"""


def test_concurrent_starts_wait_in_line_and_none_is_lost(tmp_path, queue):
    processes = []
    try:
        for k in range(3):
            out = tmp_path / f"user{k}.json"
            process = subprocess.Popen(
                [sys.executable, "-c", SLOT_USER, str(out), "1", str(tmp_path / "release")],
                cwd=ROOT,
                start_new_session=True,
                stdout=subprocess.PIPE,
                text=True,
            )
            processes.append(process)
            # A definite arrival order: the next one starts once this one holds the slot or waits in line.
            assert process.stdout.readline().strip() == ("acquired" if k == 0 else "in line")
        (tmp_path / "release").touch()
        for process in processes:
            assert process.wait(timeout=60) == 0
    finally:
        for process in processes:
            kill_group(process)
    spans = [json.loads((tmp_path / f"user{k}.json").read_text()) for k in range(3)]
    # First come, first served, one at a time.
    assert spans[0]["start"] < spans[1]["start"] < spans[2]["start"]
    for earlier, later in zip(spans, spans[1:], strict=False):
        assert later["start"] >= earlier["end"] - 0.01


def test_a_larger_limit_runs_jobs_side_by_side(tmp_path, queue):
    processes = []
    try:
        for k in range(2):
            out = tmp_path / f"user{k}.json"
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", SLOT_USER, str(out), "2", str(tmp_path / "release")],
                    cwd=ROOT,
                    start_new_session=True,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for process in processes:  # both hold a slot at the same time, neither waits in line
            assert process.stdout.readline().strip() == "acquired"
        (tmp_path / "release").touch()
        for process in processes:
            assert process.wait(timeout=60) == 0
    finally:
        for process in processes:
            kill_group(process)
    a, b = (json.loads((tmp_path / f"user{k}.json").read_text()) for k in range(2))
    assert {a["slot"], b["slot"]} == {0, 1}
    assert a["start"] < b["end"] and b["start"] < a["end"]  # overlapping


def test_a_killed_slot_holder_frees_its_slot(tmp_path, queue):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from crl.jobs import acquire_slot; import time; "
            "s = acquire_slot('cpu', lambda: False, configured=1, poll=0.05); print('held', flush=True); time.sleep(600)",
        ],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        from crl.jobs import acquire_slot

        deadline = time.monotonic() + 0.5
        assert acquire_slot("cpu", lambda: time.monotonic() > deadline, configured=1, poll=0.05) is None
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        slot = acquire_slot("cpu", lambda: False, configured=1, poll=0.05)
        assert slot is not None and slot.device == "cpu"
        slot.release()
    finally:
        kill_group(holder)


STUBBORN = """
import signal, sys, time
from crl.runs.files import atomic_write_json
from crl.runs.registry import owner_record
if sys.argv[2] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
atomic_write_json(sys.argv[1] + "/status.json", {"state": "running", **owner_record(), "session_leader": True})
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("behaviour, needs", [("ignore", "SIGKILL"), ("default", "SIGTERM")])
def test_stop_escalates_from_file_to_sigterm_to_sigkill(tmp_path, behaviour, needs):
    run = tmp_path / "run"
    run.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", STUBBORN, str(run), behaviour],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        started = time.monotonic()
        state = stop_job(run, grace=1.0)
        took = time.monotonic() - started
        assert process.wait(timeout=10) == -getattr(signal, needs)
    finally:
        kill_group(process)
    assert state == "stopped"
    assert (run / "STOP").exists()
    assert read_json(run / "status.json")["state"] == "stopped"
    assert 0.4 < took < 5.0


def test_a_background_stop_never_signals_a_job_resumed_meanwhile(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    processes = []
    try:
        for _ in range(2):
            process = subprocess.Popen(
                [sys.executable, "-c", STUBBORN, str(run), "ignore"],
                cwd=ROOT,
                start_new_session=True,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert process.stdout.readline().strip() == "ready"
            processes.append(process)
            if len(processes) == 1:
                assert stop_job(run, grace=1.0, wait=False) == "stopping"
                (run / "STOP").unlink()  # what resume_job does before the new job starts
        old, new = processes
        assert old.wait(timeout=20) == -signal.SIGKILL  # the detached stopper escalated on the old job
        time.sleep(1.0)
        assert new.poll() is None  # the job that took over the run was left alone
        assert read_json(run / "status.json")["pid"] == new.pid
    finally:
        for process in processes:
            kill_group(process)


def test_job_status_marks_a_vanished_job_interrupted(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    atomic_write_json(
        run / "status.json", {"state": "running", **owner_record(), "pid": process.pid, "step": 40}
    )
    atomic_write_json(run / "job.json", {"cohort": "x"})
    status = job_status(run)
    assert status["state"] == "interrupted" and status["recorded_state"] == "running"
    assert status["alive"] is False and status["resumable"] is True
    assert stop_job(run) == "interrupted"  # nothing to stop; the dead job is recorded as interrupted
    assert read_json(run / "status.json")["state"] == "interrupted"


def test_trim_metrics_drops_rows_after_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with open(path, "w") as handle:
        for step in (5, 10, 15, 20):
            handle.write(json.dumps({"step": step, "total": 1.0}) + "\n")
        handle.write('{"step": 25, "to')
    assert trim_metrics(tmp_path, 10) == 2
    assert [row["step"] for row in read_jsonl(path)] == [5, 10]


def test_job_control_reports_progress_and_turns_a_stop_file_into_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    saved = []
    control = JobControl(run, save_state=saved.append, checkpoint_every=100, checkpoint_seconds=1e9)
    control.begin()
    try:
        control.on_start({"device": "cpu", "epochs": 10, "steps_per_epoch": 4, "start_epoch": 0})
        # The ETA needs a measured speed (crl.jobs.heartbeat.ETA_MIN_STEPS timed steps), and status.json is
        # rewritten at most once per STATUS_SECONDS: step until a rewrite after enough steps (a loaded machine's
        # slow first write can push it later than five steps).
        step, deadline = 0, time.monotonic() + 10  # at most ~33 of the 40 steps
        while step < 5 or (
            read_json(run / "status.json").get("eta_seconds") is None and time.monotonic() < deadline
        ):
            step += 1
            assert (
                control.on_step({"step": step, "epoch": 0, "samples_per_second": 100.0, "losses": {}})
                is False
            )
            time.sleep(0.3)
        status = read_json(run / "status.json")
        assert status["state"] == "running" and status["total_steps"] == 40 and status["device"] == "cpu"
        assert status["eta_seconds"] > 0 and status["pid"] == os.getpid()
        assert read_json(run / "heartbeat.json")["pid"] == os.getpid()
        (run / "STOP").write_text("now")
        assert control.on_step({"step": step + 1, "epoch": 1, "losses": {}}) is True
        state = {"step": step + 1, "epoch": 1}
        assert control.on_epoch({"epoch": 1, "step": 6, "training_state": lambda: state}) is True
        assert saved == [state] and control.stopped
    finally:
        control.close()


# ------------------------------------------------------------------------------------------ real training


def exact_epochs() -> list[str]:
    """Overrides that make `train.epochs` exact: no minimum step count stretching a tiny cohort's training."""
    import dataclasses

    from crl.config import TrainConfig

    return ["train.min_steps=0"] if "min_steps" in {f.name for f in dataclasses.fields(TrainConfig)} else []


LONG = [
    *exact_epochs(),
    "train.epochs=60",
    "train.min_epochs=60",
    "train.batch_size=32",
    "train.checkpoint_every=5",
]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from crl.data.synthetic import write_preset

    return write_preset("paper-case1", tmp_path_factory.mktemp("cohort") / "c", n=300)


@pytest.fixture
def job_env(tmp_path, monkeypatch):
    """One torch thread per job, a private queue, and every job process group killed at the end."""
    monkeypatch.setenv("CRL_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("CRL_QUEUE_DIR", str(tmp_path / "queue"))
    monkeypatch.delenv("CRL_MAX_JOBS", raising=False)
    root = tmp_path / "runs"
    yield root
    for status in root.glob("*/status.json"):
        pid = (read_json(status, {}) or {}).get("pid")
        if isinstance(pid, int) and pid != os.getpid():
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
    from crl.jobs.control import _reap

    _reap()


def wait_for(predicate, timeout: float, what: str, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def check_curves(run: Path, epochs: int) -> list[dict]:
    """metrics.jsonl holds each epoch once, in order, with strictly increasing steps."""
    rows = read_jsonl(run / "metrics.jsonl")
    assert [row["epoch"] for row in rows] == list(range(epochs))
    steps = [row["step"] for row in rows]
    assert all(b > a for a, b in zip(steps, steps[1:], strict=False))
    return rows


@pytest.mark.slow
def test_background_job_shows_progress_stops_with_a_checkpoint_and_resumes_the_same_curves(cohort, job_env):
    from crl.jobs import resume_job, start_job

    run = start_job(cohort, None, job_env, overrides=LONG, device="cpu")
    assert run.parent == job_env and job_status(run)["state"] in ("queued", "running")
    status = wait_for(
        lambda: (s := job_status(run))["state"] == "running" and (s.get("step") or 0) >= 40 and s,
        90,
        "training progress",
    )
    assert status["device"] == "cpu" and status["total_steps"] == 60 * 8
    assert status["eta_seconds"] > 0 and status["samples_per_second"] > 0
    assert status["heartbeat_age"] < 10 and status["alive"]
    assert read_json(run / "config.json")["device"] == "cpu"

    started = time.monotonic()
    assert stop_job(run) == "stopped"
    latency = time.monotonic() - started
    assert latency < 10.0, f"stop took {latency:.1f}s"
    status = job_status(run)
    assert status["state"] == "stopped" and status["resumable"] and not status["alive"]
    from crl.runs.checkpoint import load_training_state

    state = load_training_state(run)
    assert state["step"] == status["checkpoint_step"] and 0 < state["epoch"] < 60
    before = read_jsonl(run / "metrics.jsonl")
    assert before[-1]["step"] == state["step"]  # the checkpoint is the last logged epoch

    resume_job(run)
    wait_for(lambda: job_status(run)["state"] in ("done", "failed", "interrupted"), 180, "the resumed job")
    status = job_status(run)
    assert status["state"] == "done", status.get("error")
    rows = check_curves(run, 60)
    assert rows[: len(before)] == before  # the curve continues; nothing before the stop is rewritten
    assert status["resumed_from_step"] == state["step"]
    print(f"stop latency {latency:.2f}s; resumed from step {state['step']} (epoch {state['epoch']})")


@pytest.mark.slow
def test_kill_9_of_crl_train_then_cli_resume_finishes_the_run(cohort, job_env, tmp_path):
    run = job_env / "killed"
    command = [sys.executable, "-m", "crl.cli", "train", str(cohort), "--out", str(run), "--device", "cpu"]
    for item in LONG:
        command += ["--set", item]
    process = subprocess.Popen(
        command, cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(
            lambda: len(read_jsonl(run / "metrics.jsonl")) >= 12 and (run / "training_state.pt").exists(),
            120,
            "a checkpoint",
        )
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        kill_group(process)
    from crl.runs.checkpoint import load_training_state
    from crl.runs.registry import list_runs

    before = read_jsonl(run / "metrics.jsonl")
    saved = load_training_state(run)
    assert 0 < saved["epoch"] < 60 and saved["epoch"] % 5 == 0
    info = {r.name: r for r in list_runs(job_env)}["killed"]
    assert info.state == "interrupted" and info.resumable
    assert read_json(run / "status.json")["state"] == "running"  # what the killed process left behind

    result = subprocess.run(
        [sys.executable, "-m", "crl.cli", "runs", "--root", str(job_env), "resume", "killed"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    status = job_status(run)
    assert status["state"] == "done" and status["resumed_from_step"] == saved["step"]
    rows = check_curves(run, 60)
    kept = [row for row in before if row["step"] <= saved["step"]]
    assert rows[: len(kept)] == kept  # epochs logged after the checkpoint were dropped, then retrained once
    assert len(before) > len(kept) or before == kept
    assert (run / "graph.csv").exists() and (run / "latents.csv").exists() and (run / "model.pt").exists()


@pytest.mark.slow
def test_simultaneous_starts_are_queued_and_run_one_at_a_time(cohort, job_env):
    from crl.jobs import start_job

    runs = [
        start_job(
            cohort, None, job_env, name=f"q{k}", overrides=[*exact_epochs(), "train.epochs=3"], device="cpu"
        )
        for k in range(3)
    ]
    wait_for(
        lambda: all(job_status(r)["state"] not in ("queued", "running") for r in runs), 240, "three jobs"
    )
    spans = []
    for run in runs:
        status = job_status(run)
        assert status["state"] == "done", status.get("error")
        spans.append((status["started_at"], status["ended_at"]))
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end - 0.05  # never two at once on the one CPU slot


@pytest.mark.slow
def test_sparsity_path_levels_and_a_warm_started_refit(cohort, job_env):
    from crl.jobs import refit_job, start_job
    from crl.runs.sparsity_path import read_index

    run = start_job(
        cohort,
        None,
        job_env,
        overrides=[*exact_epochs(), "train.epochs=4"],
        device="auto",  # the default; the foreground refit below once passed "auto" on to torch and crashed
        sparsity_path=[0.1, 0.001],
        path_epochs=2,
    )
    wait_for(lambda: job_status(run)["state"] not in ("queued", "running"), 240, "the path job")
    assert job_status(run)["state"] == "done", job_status(run).get("error")
    levels = read_index(run)
    assert [lv["sparsity"] for lv in levels] == [0.001, 0.1]
    for level in levels:
        folder = run / "path" / level["folder"]
        for name in ("graph.csv", "latents.csv", "metrics.jsonl", "summary.json", "model.pt"):
            assert (folder / name).exists(), name
        assert len(read_jsonl(folder / "metrics.jsonl")) == 2
    assert levels[0]["warm_start"] == "" and levels[1]["warm_start"] == f"path/{levels[0]['folder']}"
    # The levels refit the graph only: their latents are the run's own (no encoder step, no realignment).
    assert all(
        (run / "path" / lv["folder"] / "latents.csv").read_text() == (run / "latents.csv").read_text()
        for lv in levels
    )
    main_first = read_jsonl(run / "metrics.jsonl")[0]["validation_loss"]
    level_first = read_jsonl(run / "path" / levels[0]["folder"] / "metrics.jsonl")[0]["validation_loss"]
    assert level_first < main_first  # warm-started, not from scratch

    import torch

    torch.set_num_threads(1)
    refit_job(run, [0.01], epochs=2, background=False)
    assert job_status(run)["state"] == "done"
    levels = read_index(run)
    assert [lv["sparsity"] for lv in levels] == [0.001, 0.01, 0.1]
    assert levels[1]["warm_start"] == "run"

    from crl.ui.run_cache import sparsity_levels  # the dashboard reads what the job wrote

    assert [lv.weight for lv in sparsity_levels(run)] == [0.001, 0.01, 0.1]


def test_cuda_out_of_memory_becomes_a_readable_failure(cohort, job_env, monkeypatch):
    import torch

    import crl.engine.restarts
    from crl.jobs import prepare_job, run_job

    def exhausted(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(crl.engine.restarts, "fit", exhausted)
    run = prepare_job(cohort, None, job_env, overrides=["train.batch_size=64"], device="cpu")
    assert run_job(run, queue=False) == 1
    status = job_status(run)
    assert status["state"] == "failed"
    assert "ran out of memory at batch size 64" in status["error"]
    assert "--set train.batch_size=32" in status["error"]


ATOMIC_SAVE = """
import os, sys, torch
from crl.runs.checkpoint import save_training_state
run = sys.argv[1]
save_training_state(run, {"step": 1, "w": torch.ones(3)})
real_save = torch.save
def dying_save(obj, f, *a, **k):
    with open(f, "wb") as handle:
        handle.write(b"half a checkpoi")
    os._exit(9)  # as if killed in the middle of writing
torch.save = dying_save
save_training_state(run, {"step": 2, "w": torch.zeros(3)})
"""


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_one(tmp_path):
    from crl.runs.checkpoint import load_training_state

    result = subprocess.run([sys.executable, "-c", ATOMIC_SAVE, str(tmp_path)], cwd=ROOT, timeout=120)
    assert result.returncode == 9
    state = load_training_state(tmp_path)
    assert state["step"] == 1 and state["w"].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.slow
def test_sigterm_to_crl_train_stops_it_with_a_checkpoint_that_resumes(cohort, job_env, tmp_path):
    run = job_env / "terminal"
    command = [sys.executable, "-m", "crl.cli", "train", str(cohort), "--out", str(run), "--device", "cpu"]
    for item in [
        *LONG[:-1],
        "train.checkpoint_every=1000",
    ]:  # no periodic checkpoint: only the stop saves one
        command += ["--set", item]
    process = subprocess.Popen(command, cwd=tmp_path, start_new_session=True, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(read_jsonl(run / "metrics.jsonl")) >= 5, 240, "training progress")
        assert read_json(run / "heartbeat.json")["pid"] == process.pid
        started = time.monotonic()
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        latency = time.monotonic() - started
    finally:
        kill_group(process)
    assert latency < 10.0
    from crl.runs.checkpoint import load_training_state

    status = job_status(run)
    assert status["state"] == "stopped" and status["resumable"]
    saved = load_training_state(run)
    assert read_jsonl(run / "metrics.jsonl")[-1]["step"] == saved["step"]
    result = subprocess.run(
        [sys.executable, "-m", "crl.cli", "runs", "resume", str(run)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert job_status(run)["state"] == "done"
    check_curves(run, 60)


def test_a_job_with_restarts_logs_one_continuous_curve_and_records_each_restart(cohort, job_env):
    from crl.jobs import prepare_job, run_job

    settings = [
        *exact_epochs(),
        "train.epochs=3",
        "train.min_epochs=3",
        "train.batch_size=64",
        "train.restarts=2",
    ]
    run = prepare_job(cohort, None, job_env, overrides=settings, device="cpu")
    assert run_job(run, queue=False) == 0
    status = job_status(run)
    assert status["state"] == "done" and [r["seed"] for r in status["restarts"]] == [0, 1]
    rows = check_curves(run, 6)
    assert [row["restart"] for row in rows] == [0, 0, 0, 1, 1, 1]
    kept = status["restarts"][status["kept_restart"]]
    assert status["best_validation_loss"] == kept["best_validation_loss"]
