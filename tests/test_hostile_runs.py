"""Hostile conditions around runs and jobs: full disk, read-only folders, damaged files, closed pipes."""

from __future__ import annotations

import pytest

from crl.cli import main

pytestmark = pytest.mark.hostile


# --- runs and jobs (hruns)
# A full disk, a read-only runs folder, damaged run files, a half-written checkpoint, a closed pipe: each gets a
# named error (exit 1, no traceback) and leaves the run as it was, or says how to get it going again.

import errno  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from read_only import read_only_maker  # noqa: E402
from run_factory import fake_run  # noqa: E402

from crl.runs.files import read_json  # noqa: E402

TINY = ["--device", "cpu", "--set", "train.epochs=3", "--set", "train.min_epochs=1"]
TINY += ["--set", "train.min_steps=0", "--set", "train.checkpoint_every=1"]


@pytest.fixture
def read_only(monkeypatch, request):
    return read_only_maker(monkeypatch, request)


@pytest.fixture(scope="module")
def case1(tmp_path_factory) -> Path:
    from crl.data.synthetic import write_preset

    return write_preset("paper-case1", tmp_path_factory.mktemp("hruns") / "case1", n=200, seed=0)


@pytest.fixture(scope="module")
def trained(case1, tmp_path_factory) -> Path:
    """A finished tiny run (model.pt, training_state.pt, graph.csv); tests change copies of it."""
    run = tmp_path_factory.mktemp("hruns-trained") / "tiny"
    assert main(["train", str(case1), "--out", str(run), *TINY]) == 0
    return run


def _copy(run: Path, where: Path, **status) -> Path:
    target = where / run.name
    shutil.copytree(run, target)
    if status:
        recorded = read_json(target / "status.json", {})
        recorded.update(status)
        (target / "status.json").write_text(json.dumps(recorded))
    return target


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.err


@pytest.mark.parametrize("fails", ["metrics only", "every write"])
def test_a_full_disk_during_crl_train_fails_with_how_to_resume(case1, tmp_path, monkeypatch, capsys, fails):
    import crl.runs.files as files
    import crl.runs.folder as folder

    full = []
    real_atomic_write = files.atomic_write

    def no_space(*args, **kwargs):
        full.append(True)
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "metrics.jsonl"))

    def atomic_write(*args, **kwargs):
        if full and fails == "every write":
            raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))
        return real_atomic_write(*args, **kwargs)

    monkeypatch.setattr(folder, "append_jsonl", no_space)
    monkeypatch.setattr(files, "atomic_write", atomic_write)
    run = tmp_path / "run"
    code, err = _cli(capsys, "train", case1, "--out", run, *TINY)
    assert code == 1
    assert "the disk is full" in err and f"crl runs resume {run}" in err
    status = read_json(run / "status.json")
    if fails == "metrics only":  # the status could still be written: it says why and what to do
        assert status["state"] == "failed" and "the disk is full" in status["error"]
    else:  # nothing could be written: the status still says running, which reads "interrupted" once we exit
        assert status["state"] == "running"


def test_a_full_disk_in_a_background_job_is_a_readable_failure(case1, tmp_path, monkeypatch):
    import crl.runs.folder as folder
    from crl.jobs import job_status, prepare_job, run_job

    def no_space(path, row):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(folder, "append_jsonl", no_space)
    run = prepare_job(case1, None, tmp_path, name="job", overrides=TINY[3::2], device="cpu")
    assert run_job(run, queue=False) == 1
    status = job_status(run)
    assert status["state"] == "failed" and status["error"].startswith("the disk is full")
    assert "internal error" not in status["error"] and status["resumable"]


READ_ONLY_COMMANDS = {
    "train --out": lambda run, cohort: ["train", cohort, "--out", run.parent / "new", *TINY],
    "train --background": lambda run, cohort: ["train", cohort, "--out", run.parent / "new", "--background"],
    "runs rename": lambda run, cohort: ["runs", "rename", run, "renamed"],
    "runs delete": lambda run, cohort: ["runs", "delete", run, "--yes"],
    "runs resume": lambda run, cohort: ["runs", "resume", run],
    "runs refit": lambda run, cohort: ["runs", "refit", run, "--sparsity", "0.1", "--epochs", "1"],
    "export --out": lambda run, cohort: ["export", run, "--format", "dot", "--out", run / "graph.dot"],
}


@pytest.mark.parametrize("command", list(READ_ONLY_COMMANDS))
def test_write_commands_on_a_read_only_runs_folder_say_so_and_change_nothing(
    command, trained, case1, tmp_path, capsys, read_only
):
    root = tmp_path / "runs"
    root.mkdir()
    state = "stopped" if command == "runs resume" else "done"
    run = _copy(trained, root, state=state)
    before = _snapshot(root)
    read_only(root)
    code, err = _cli(capsys, *READ_ONLY_COMMANDS[command](run, case1))
    assert code == 1
    assert f"crl {command.split()[0]}:" in err and "read-only" in err, err
    assert _snapshot(root) == before and not (root / "new").exists()


def test_stop_on_a_read_only_runs_folder_still_stops_the_job(trained, tmp_path, capsys, read_only):
    from crl.runs.registry import boot_id, host

    root = tmp_path / "runs"
    root.mkdir()
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        owner = {"pid": job.pid, "host": host(), "boot_id": boot_id(), "session_leader": True}
        run = _copy(trained, root, state="running", **owner)
        read_only(root)
        code, err = _cli(capsys, "runs", "stop", run, "--grace", "2")
        assert code == 0 and "read-only" in err, err
        assert job.wait(timeout=10) is not None  # SIGTERM went to the job, as the stop file could not
    finally:
        job.kill()
        job.wait()


BINARY = b"\xff\xfe\x00\x81PK\x03\x04 not text \x9c\x00"


@pytest.mark.parametrize(
    ("damaged", "command"),
    [
        ("graph.csv", "evaluate"),
        ("graph.csv", "export"),
        ("graph.csv", "identifiability"),
        ("config.json", "evaluate"),
        ("config.json", "export"),
    ],
)
def test_a_binary_run_file_is_named_with_how_to_fix_it(damaged, command, tmp_path, capsys):
    from crl.data.synthetic import write_preset

    cohort = write_preset("paper-case1", tmp_path / "cohort", n=60, seed=0)
    run = fake_run(tmp_path / "run", cohort)
    (run / damaged).write_bytes(BINARY)
    argv = {"evaluate": ["evaluate", run], "identifiability": ["identifiability", run, "--json"]}
    argv["export"] = ["export", run, "--format", "dot", "--out", tmp_path / "graph.dot"]
    code, err = _cli(capsys, *argv[command])
    assert code == 1
    assert str(run / damaged) in err and "retrain" in err and "restore" in err, err


def test_a_truncated_training_state_is_set_aside_and_resume_then_starts_over(trained, tmp_path, capsys):
    run = _copy(trained, tmp_path, state="stopped")
    state = run / "training_state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    code, err = _cli(capsys, "runs", "resume", run)
    assert code == 1 and "training_state.pt" in err and "damaged" in err
    assert "training_state.damaged.pt" in err and f"crl runs resume {run}" in err
    assert (run / "training_state.damaged.pt").exists() and not state.exists()
    # The way out the message gave: resume again, which trains from the start.
    code, err = _cli(capsys, "runs", "resume", run)
    assert code == 0, err
    assert read_json(run / "status.json")["state"] == "done" and state.exists()


def test_runs_list_marks_every_run_that_resume_can_continue(case1, tmp_path, capsys):
    from crl.jobs import job_status
    from crl.runs.registry import list_runs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()

    def vanished(name: str, **files: str) -> Path:
        run = tmp_path / name
        run.mkdir()
        (run / "status.json").write_text(json.dumps({"state": "running", "pid": dead.pid}))
        for file, text in files.items():
            (run / file.replace("_", ".")).write_text(text)
        return run

    vanished("job", job_json=json.dumps({"cohort": str(case1)}))
    vanished("terminal", config_json=json.dumps({"cohort": {"root": str(case1)}}))
    vanished("unknown", config_json="{}")
    infos = {info.name: info for info in list_runs(tmp_path)}
    assert {name for name, info in infos.items() if info.resumable} == {"job", "terminal"}
    for info in infos.values():
        assert info.state == "interrupted" and info.resumable == job_status(info.path)["resumable"]
    assert main(["runs", "--root", str(tmp_path), "list"]) == 0
    listed = capsys.readouterr().out
    assert "interrupted*" in listed and listed.count("*") == 3  # two marked runs and the legend


def test_resume_removes_the_temporary_files_a_killed_write_left(trained, tmp_path, capsys):
    run = _copy(trained, tmp_path, state="stopped")
    old = time.time() - 3600
    left = [run / ".model.pt.k3_9xq2a.tmp", run / ".status.json.abcd1234.tmp"]
    kept = [run / ".notes.tmp", run / "model.pt.tmp", run / ".model.pt.new12345.tmp"]
    for path in [*left, *kept]:
        path.write_bytes(b"half")
        os.utime(path, (old, old))
    os.utime(kept[-1], (time.time() + 60, time.time() + 60))  # newer than this process: someone's, not ours
    code, err = _cli(capsys, "runs", "resume", run)
    assert code == 0, err
    assert not any(p.exists() for p in left) and all(p.exists() for p in kept)


def test_a_closed_pipe_ends_the_output_quietly(case1):
    command = [sys.executable, "-m", "crl.cli", "identifiability", str(case1), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head` does once it has read enough
    err = process.stderr.read().decode()
    process.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert process.returncode in (0, 1)
