"""crl.runs.run.Run (the one reader of a run folder) and the atomic writers of crl.runs.files."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from crl.errors import RunError
from crl.runs.files import (
    atomic_torch_save,
    atomic_write,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
)
from crl.runs.graph_file import write_graph
from crl.runs.run import Run


def test_atomic_writers_leave_no_temporary_file(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_csv(tmp_path / "t.csv", pd.DataFrame({"subject_id": ["S1"], "x.z0": [0.5]}))
    atomic_torch_save({"w": torch.ones(2)}, tmp_path / "model.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "model.pt", "t.csv"]
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "t.csv").read_text() == "subject_id,x.z0\nS1,0.5\n"
    assert torch.load(tmp_path / "model.pt", weights_only=True)["w"].tolist() == [1.0, 1.0]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    atomic_write_bytes(tmp_path / "f", b"old")

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "f", fail)
    assert (tmp_path / "f").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_run_reads_config_status_and_threshold(tmp_path):
    run = Run(tmp_path)
    assert run.config == {} and run.status == {} and run.threshold() == 0.5
    atomic_write_json(tmp_path / "config.json", {"graph": {"threshold": 0.3}, "cohort": {"root": "../c"}})
    atomic_write_json(tmp_path / "status.json", {"state": "done"})
    run = Run(tmp_path)
    assert run.threshold() == 0.3 and run.status["state"] == "done"
    assert run.cohort_path() == tmp_path / "../c"
    (tmp_path / "config.json").write_text("{broken")
    (tmp_path / "status.json").write_text("{broken")
    with pytest.raises(RunError, match="config.json is not readable JSON"):
        _ = Run(tmp_path).config
    assert Run(tmp_path).status == {}  # a status being rewritten is no error


def test_run_reads_latents_and_says_what_is_wrong(tmp_path):
    run = Run(tmp_path)
    assert not run.has_latents and run.latent_names is None
    (tmp_path / "latents.csv").write_text("subject_id,a.z0,b.z0\n007,1,2\n")
    run = Run(tmp_path)
    latents = run.latents()
    assert run.latent_names == ["a.z0", "b.z0"]
    assert list(latents.index) == ["007"] and latents.dtypes.eq(float).all()
    (tmp_path / "latents.csv").write_text("id,a.z0\n1,2\n")
    with pytest.raises(RunError, match="no subject_id column"):
        Run(tmp_path).latents()
    (tmp_path / "latents.csv").write_text("subject_id,a.z0\nS1,strong\n")
    with pytest.raises(RunError, match="could not be read"):
        Run(tmp_path).latents()


def test_run_metrics_skip_damaged_lines_and_bytes(tmp_path):
    (tmp_path / "metrics.jsonl").write_bytes(b'{"step": 1}\n\xff\xfe\n[1]\n{"step": 2}\n{"step": 3, "ep')
    assert [row["step"] for row in Run(tmp_path).metrics()] == [1, 2]


def test_run_lists_sparsity_levels_with_a_graph(tmp_path):
    for k in (0, 1):
        write_graph(tmp_path / "path" / str(k), ["a.z0", "b.z0"], np.zeros((2, 2)))
    atomic_write_json(
        tmp_path / "path" / "index.json",
        {"levels": [{"k": 1, "sparsity": 0.5}, {"k": 0, "sparsity": 0.1}, {"k": 2, "sparsity": 1.0}]},
    )
    levels = Run(tmp_path).sparsity_levels()
    assert [(lv.weight, lv.folder.name, lv.label) for lv in levels] == [(0.1, "0", "0.1"), (0.5, "1", "0.5")]
    assert Run(tmp_path / "nothing").sparsity_levels() == []


def test_watched_files_are_the_files_pages_read(tmp_path):
    names = [p.relative_to(tmp_path).as_posix() for p in Run(tmp_path).watched_files()]
    assert names == [
        "graph.csv",
        "latents.csv",
        "config.json",
        "metrics.jsonl",
        "names.json",
        "path/index.json",
    ]
    assert os.fspath(Run(tmp_path).graph_file) == os.fspath(tmp_path / "graph.csv")
