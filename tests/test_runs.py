"""The run registry: atomic JSON, tolerant JSONL, dead-job detection, listing, renaming, deleting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crl.errors import RunError
from crl.runs.files import append_jsonl, atomic_write_json, read_json, read_jsonl
from crl.runs.registry import (
    STALE_SECONDS,
    TRAINING_STATE_FILE,
    delete_run,
    effective_state,
    list_runs,
    new_run_dir,
    owner_record,
    rename_run,
    resolve_run,
    runs_root,
)


def make_run(root: Path, name: str, state: str = "done", created: float = 0.0, **status) -> Path:
    path = root / name
    path.mkdir(parents=True)
    atomic_write_json(path / "status.json", {"state": state, "created": created, "device": "cpu", **status})
    atomic_write_json(path / "config.json", {"cohort": {"path": f"/data/{name}-cohort"}})
    return path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_write_json_is_atomic_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "status.json"
    atomic_write_json(target, {"state": "queued"})
    atomic_write_json(target, {"state": "running", "values": [1, 2]})
    assert json.loads(target.read_text()) == {"state": "running", "values": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_read_json_returns_default_for_missing_or_broken_files(tmp_path):
    assert read_json(tmp_path / "missing.json", {"x": 1}) == {"x": 1}
    (tmp_path / "broken.json").write_text('{"state": "runn')
    assert read_json(tmp_path / "broken.json") is None


def test_read_jsonl_skips_a_partial_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"step": 1, "total": 2.0})
    append_jsonl(path, {"step": 2, "total": 1.5})
    with open(path, "a") as handle:
        handle.write('{"step": 3, "tot')  # a kill in the middle of an append
    assert [row["step"] for row in read_jsonl(path)] == [1, 2]


def test_running_state_of_a_dead_local_process_reads_interrupted():
    alive = {"state": "running", **owner_record()}
    assert effective_state(alive) == "running"
    dead = {**alive, "pid": dead_pid()}
    assert effective_state(dead) == "interrupted"
    assert effective_state({**dead, "state": "done"}) == "done"


def test_a_job_from_another_boot_reads_interrupted_even_if_its_pid_exists():
    rebooted = {"state": "running", **owner_record(), "boot_id": "a-previous-boot"}
    assert effective_state(rebooted) == "interrupted"


def test_a_remote_job_is_judged_by_its_heartbeat():
    now = time.time()
    remote = {"state": "running", "pid": 1, "host": "another-machine", "boot_id": "x"}
    assert effective_state({**remote, "heartbeat": now - 1}, now) == "running"
    assert effective_state({**remote, "heartbeat": now - STALE_SECONDS - 1}, now) == "interrupted"
    assert effective_state(remote, now) == "interrupted"  # no heartbeat at all: nothing keeps it alive


def test_runs_root_prefers_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CRL_RUNS", raising=False)
    assert runs_root() == Path("runs")
    monkeypatch.setenv("CRL_RUNS", str(tmp_path / "env"))
    assert runs_root() == tmp_path / "env"
    assert runs_root(tmp_path / "arg") == tmp_path / "arg"


def test_list_runs_shows_state_cohort_device_and_last_metrics_newest_first(tmp_path):
    old = make_run(tmp_path, "old", created=100.0)
    for step in range(3):
        append_jsonl(
            old / "metrics.jsonl", {"step": step, "epoch": step, "total": 3.0 - step, "validation_loss": 9.0}
        )
    make_run(tmp_path, "new", state="running", created=200.0, pid=dead_pid(), host=owner_record()["host"])
    (tmp_path / ".queue").mkdir()  # hidden folders are not runs
    (tmp_path / "stray").mkdir()  # nor folders without run files
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["new", "old"]
    assert runs[0].state == "interrupted"
    assert runs[1].state == "done"
    assert runs[1].cohort == "old-cohort"
    assert runs[1].device == "cpu"
    assert runs[1].metrics["total"] == 1.0 and runs[1].step == 2
    assert runs[1].best_validation_loss == 9.0
    assert list_runs(tmp_path / "nowhere") == []


def test_new_run_dir_makes_unique_folders_and_checks_names(tmp_path):
    first = new_run_dir(tmp_path, stem="my cohort")
    second = new_run_dir(tmp_path, stem="my cohort")
    assert first != second and first.is_dir() and second.is_dir()
    assert first.name.startswith("my-cohort-")
    assert new_run_dir(tmp_path, name="named").name == "named"
    with pytest.raises(RunError, match="already exists"):
        new_run_dir(tmp_path, name="named")
    for bad in ("../escape", ".hidden", "a/b", ""):
        with pytest.raises(RunError, match="cannot name a run"):
            new_run_dir(tmp_path, name=bad)


def test_rename_and_delete_refuse_live_runs_and_work_on_finished_ones(tmp_path):
    live = make_run(tmp_path, "live", state="running", **owner_record())
    done = make_run(tmp_path, "done")
    with pytest.raises(RunError, match="stop it first"):
        rename_run(live, "other")
    with pytest.raises(RunError, match="stop it first"):
        delete_run(live)
    renamed = rename_run(done, "kept")
    assert renamed == tmp_path / "kept" and renamed.is_dir() and not done.exists()
    with pytest.raises(RunError, match="already exists"):
        rename_run(renamed, "live")
    delete_run(renamed)
    assert not renamed.exists()
    with pytest.raises(RunError, match="not a run folder"):
        delete_run(tmp_path / "nothing")


def test_resolve_run_accepts_a_path_or_a_name(tmp_path, monkeypatch):
    run = make_run(tmp_path, "abc")
    assert resolve_run(run) == run
    assert resolve_run("abc", tmp_path) == tmp_path / "abc"
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(RunError, match="crl runs list"):
        resolve_run("missing", tmp_path)


def test_interrupted_runs_with_a_training_state_are_resumable(tmp_path):
    from crl.runs.checkpoint import training_state_path

    run = make_run(tmp_path, "cut", state="running", pid=dead_pid(), host=owner_record()["host"])
    assert list_runs(tmp_path)[0].resumable is False
    path = training_state_path(run)
    assert path == run / TRAINING_STATE_FILE  # the registry's copy of the name matches the engine's
    path.write_bytes(b"x")
    info = list_runs(tmp_path)[0]
    assert info.state == "interrupted" and info.resumable is True


def test_pid_reuse_is_not_mistaken_for_the_job_after_a_reboot(tmp_path):
    # Our own pid is certainly alive; recorded under another boot it must still read as gone.
    status = {"state": "queued", "pid": os.getpid(), "host": owner_record()["host"], "boot_id": "old"}
    assert effective_state(status) == "interrupted"


def test_a_plain_crl_train_status_with_only_a_pid_is_judged_locally(tmp_path):
    assert effective_state({"state": "running", "pid": os.getpid()}) == "running"
    assert effective_state({"state": "running", "pid": dead_pid()}) == "interrupted"


def test_iso_creation_times_from_run_folder_are_understood(tmp_path):
    run = tmp_path / "iso"
    run.mkdir()
    atomic_write_json(run / "status.json", {"state": "done", "started": "2025-01-02T03:04:05+00:00"})
    assert list_runs(tmp_path)[0].created == pytest.approx(1735787045.0)


def test_crl_runs_list_rename_delete_from_the_command_line(tmp_path, capsys):
    from crl.cli import main

    make_run(tmp_path, "first", created=1.0)
    make_run(tmp_path, "busy", state="running", created=2.0, **owner_record())
    assert main(["runs", "--root", str(tmp_path), "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["state"]) for r in listed] == [("busy", "running"), ("first", "done")]
    assert main(["runs", "--root", str(tmp_path), "rename", "first", "second"]) == 0
    assert (tmp_path / "second").is_dir() and not (tmp_path / "first").exists()
    assert main(["runs", "--root", str(tmp_path), "delete", "busy", "--yes"]) == 1
    assert "stop it first" in capsys.readouterr().err
    assert main(["runs", "--root", str(tmp_path), "delete", "second", "--yes"]) == 0
    assert not (tmp_path / "second").exists()
    assert main(["runs", "--root", str(tmp_path), "list"]) == 0
    assert "busy" in capsys.readouterr().out
