"""Data-parallel training: sharding, the DDP loss, and torchrun with 2 gloo processes on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from crl.engine.distributed import any_rank, current, is_main_process, prepare, shard_batch, torchrun_command

ROOT = Path(__file__).resolve().parents[1]


def exact_epochs() -> list[str]:
    """Overrides that make `train.epochs` exact: no minimum step count stretching a tiny cohort's training."""
    import dataclasses

    from crl.config import TrainConfig

    return ["train.min_steps=0"] if "min_steps" in {f.name for f in dataclasses.fields(TrainConfig)} else []


def test_shards_are_disjoint_and_cover_the_batch():
    batch = {"a": torch.arange(10).reshape(10, 1), "b": torch.arange(10) * 10}
    parts = [shard_batch(batch, r, 3) for r in range(3)]
    rows = sorted(int(v) for p in parts for v in p["a"].flatten())
    assert rows == list(range(10))
    for part in parts:
        assert torch.equal(part["b"], part["a"].flatten() * 10)  # modalities stay aligned row by row


def test_outside_torchrun_everything_is_a_no_op():
    assert current() is None and is_main_process()
    model = torch.nn.Linear(2, 1)
    assert prepare(model) is model
    assert any_rank(True) is True and any_rank(False) is False


def test_torchrun_command_runs_a_module_on_one_machine():
    command = torchrun_command(4, ["crl.cli", "train", "x"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=4" in command and "--standalone" in command
    assert command[-4:] == ["-m", "crl.cli", "train", "x"]


DDP_SCRIPT = r"""
import json, os, sys
import torch
from crl.engine import distributed

torch.set_num_threads(1)

class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(3, 1)
    def loss(self, batch, scale=1.0):
        class R: pass
        r = R()
        r.total = scale * ((self.linear(batch["x"]) - batch["y"]) ** 2).mean()
        return r

def train(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        x = torch.randn(8, 3, generator=g)
        batch = {"x": x, "y": x.sum(1, keepdim=True)}
        opt.zero_grad()
        model.loss(batch, scale=2.0).total.backward()
        opt.step()
    with torch.no_grad():
        full = model.loss(batch).total.item()
    return [p.detach().flatten().tolist() for p in model.parameters()], full

out = sys.argv[1]
if os.environ.get("WORLD_SIZE"):
    ctx = distributed.init("cpu")
    model = distributed.prepare(Toy(), ctx)
    params, full = train(model)
    stop = distributed.any_rank(ctx.rank == 1)
    with open(f"{out}/rank{ctx.rank}.json", "w") as f:
        json.dump({"params": params, "full": full, "stop": stop, "world": ctx.world_size, "backend": ctx.backend}, f)
    distributed.shutdown()
else:
    params, full = train(Toy())
    with open(f"{out}/single.json", "w") as f:
        json.dump({"params": params, "full": full}, f)
"""


@pytest.mark.slow
def test_two_gloo_ranks_match_single_process_full_batch_training(tmp_path):
    script = tmp_path / "ddp_toy.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, env=env, cwd=ROOT, timeout=120)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(script),
        str(tmp_path),
    ]
    result = subprocess.run(
        command, env=env, cwd=ROOT, timeout=300, capture_output=True, text=True, start_new_session=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    single = json.loads((tmp_path / "single.json").read_text())
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["world"] == 2 and ranks[0]["backend"] == "gloo"
    assert ranks[0]["params"] == ranks[1]["params"]  # replicas stay identical
    for got, want in zip(ranks[0]["params"], single["params"], strict=True):
        assert torch.allclose(torch.tensor(got), torch.tensor(want), atol=1e-6)
    assert ranks[0]["full"] == ranks[1]["full"]  # no_grad calls see the whole batch on every rank
    assert ranks[0]["stop"] and ranks[1]["stop"]  # one rank's stop request reaches both


@pytest.mark.slow
def test_crl_train_gpus_2_on_cpu_trains_with_rank_0_writing_and_stops_and_resumes(tmp_path, monkeypatch):
    """`--gpus 2 --device cpu`: torchrun, gloo, DDP; one writer; an agreed stop with a checkpoint; resume."""
    from crl.data.synthetic import write_preset
    from crl.jobs import job_status, resume_job, start_job, stop_job
    from crl.runs.files import read_json, read_jsonl

    monkeypatch.setenv("CRL_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("CRL_QUEUE_DIR", str(tmp_path / "queue"))
    cohort = write_preset("paper-case1", tmp_path / "cohort", n=300)
    overrides = [
        *exact_epochs(),
        "train.epochs=40",
        "train.min_epochs=40",
        "train.batch_size=32",
        "train.checkpoint_every=100",
    ]
    run = start_job(cohort, None, tmp_path / "runs", overrides=overrides, device="cpu", gpus=2)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            status = job_status(run)
            if status["state"] not in ("queued", "running") or (status.get("step") or 0) >= 30:
                break
            time.sleep(0.2)
        assert status["state"] == "running", status.get("error") or (run / "log.txt").read_text()[-2000:]
        assert status["world_size"] == 2 and status["backend"] == "gloo"
        assert stop_job(run) == "stopped"
        saved = read_json(run / "status.json")["checkpoint_step"]
        assert (run / "training_state.pt").exists() and saved >= 30
        rows = read_jsonl(run / "metrics.jsonl")
        assert rows[-1]["step"] == saved  # one writer: one row per epoch, ending at the checkpoint

        resume_job(run)
        deadline = time.monotonic() + 300
        while job_status(run)["state"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.3)
        status = job_status(run)
        assert status["state"] == "done", status.get("error") or (run / "log.txt").read_text()[-2000:]
        rows = read_jsonl(run / "metrics.jsonl")
        assert [row["epoch"] for row in rows] == list(range(40))
        assert (run / "graph.csv").exists() and (run / "model.pt").exists()
    finally:
        pid = (read_json(run / "status.json", {}) or {}).get("pid")
        if isinstance(pid, int):
            try:
                os.killpg(pid, 9)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.mark.slow
def test_torchrun_of_crl_cli_train_directly_writes_one_run(tmp_path):
    """The multi-node recipe in docs/multi-gpu.md: torchrun -m crl.cli train …, here 2 gloo ranks on CPU."""
    from crl.data.synthetic import write_preset
    from crl.runs.files import read_json, read_jsonl

    cohort = write_preset("paper-case1", tmp_path / "cohort", n=300)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CRL_THREADS": "1"}
    command = [
        *torchrun_command(2, ["crl.cli", "train", str(cohort), "--out", str(run), "--device", "cpu"]),
        "--set",
        "train.epochs=3",
        *[arg for item in exact_epochs() for arg in ("--set", item)],
    ]
    result = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, start_new_session=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    status = read_json(run / "status.json")
    assert status["state"] == "done" and status["world_size"] == 2
    assert [row["epoch"] for row in read_jsonl(run / "metrics.jsonl")] == [0, 1, 2]


@pytest.mark.slow
def test_two_gloo_ranks_train_a_cohort_with_subjects_lacking_a_modality(tmp_path):
    """Presence masks travel with the batch shards; a shard nobody in lacks a modality still runs the imputer,
    or DistributedDataParallel would miss its gradients (crl.engine.distributed.prepare)."""
    import pandas as pd

    from crl.data.synthetic import write_preset
    from crl.runs.files import read_json

    cohort = write_preset("paper-case1", tmp_path / "cohort", n=300)
    table = pd.read_csv(cohort / "m2.csv", dtype={"subject_id": str})
    table.drop(index=[0, 1, 2]).to_csv(cohort / "m2.csv", index=False)  # most batch shards lack nobody
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CRL_THREADS": "1"}
    command = [
        *torchrun_command(2, ["crl.cli", "train", str(cohort), "--out", str(run), "--device", "cpu"]),
        *("--set", "train.epochs=2", "--set", "train.batch_size=32"),
        *[arg for item in exact_epochs() for arg in ("--set", item)],
    ]
    result = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, start_new_session=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_json(run / "status.json")["state"] == "done"
    latents = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}, keep_default_na=False)
    assert len(latents) == 300 and (latents["inferred"] == "m2").sum() == 3
