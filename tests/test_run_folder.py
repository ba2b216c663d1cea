"""Run folder and checkpoints: contents, atomic writes, append-only metrics, reload without pickle."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from crl.config import apply_overrides, default_config
from crl.core.model import build_model
from crl.data.cohort import Cohort, Modality
from crl.engine.fit import encode_cohort, fit
from crl.errors import RunError
from crl.runs.checkpoint import (
    MODEL_FILE,
    encode_with_run,
    load_run,
    load_training_state,
    save_model,
    training_state_path,
)
from crl.runs.files import atomic_write_json
from crl.runs.folder import RunFolder, RunFolderCallback

torch.set_num_threads(1)


def _cohort(n: int = 120, seed: int = 0, features: int = 5) -> Cohort:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    a = np.tanh(z @ rng.standard_normal((2, features))) + 0.05 * rng.standard_normal((n, features))
    b = (z[:, :1] ** 3) @ rng.standard_normal((1, 4)) + 0.05 * rng.standard_normal((n, 4))
    mods = {
        "a": Modality("a", "tabular", a.astype(np.float32), [f"a{i}" for i in range(features)], latents=1),
        "b": Modality("b", "tabular", b.astype(np.float32), [f"b{i}" for i in range(4)], latents=1),
    }
    return Cohort("tiny", np.array([f"S{i:03d}" for i in range(n)]), mods)


def _config(cohort: Cohort, *extra: str):
    return apply_overrides(
        default_config(cohort.schema()),
        [
            "train.device=cpu",
            "train.min_steps=0",
            "train.epochs=3",
            "train.min_epochs=1",
            "train.batch_size=32",
            "train.checkpoint_every=1",
            "modalities.a.width=8",
            "modalities.b.width=8",
            *extra,
        ],
    )


def test_atomic_json_write_keeps_the_old_file_when_a_write_fails(tmp_path):
    path = tmp_path / "status.json"
    atomic_write_json(path, {"state": "running"})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"state": object()})
    assert json.loads(path.read_text()) == {"state": "running"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]  # no temporary file left behind


def test_every_json_and_csv_write_goes_through_os_replace(tmp_path, monkeypatch):
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((os.path.dirname(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    run = RunFolder(tmp_path / "run")
    cohort = _cohort()
    run.start(_config(cohort), cohort, device="cpu")
    run.write_graph(["a.z0", "b.z0"], np.array([[0.0, 0.7], [0.2, 0.0]]))
    run.write_latents(pd.DataFrame({"subject_id": ["S1"], "a.z0": [0.1], "b.z0": [0.2]}))
    names = {dst for _, dst in replaced}
    assert {"config.json", "status.json", "graph.csv", "latents.csv"} <= names
    assert all(src == str(run.path) for src, _ in replaced)  # temporary file in the same folder


def test_metrics_are_appended_one_object_per_line(tmp_path):
    run = RunFolder(tmp_path)
    run.append_metrics({"step": 1, "epoch": 0, "total": 2.5, "validation_loss": 2.0})
    run.append_metrics({"step": 2, "epoch": 1, "total": float("nan"), "validation_loss": 1.5})
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 3, "epo')  # a line being written right now
    rows = run.read_metrics()
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[1]["total"] is None  # NaN is written as null: the file stays strict JSON


def test_graph_csv_lists_every_ordered_pair(tmp_path):
    run = RunFolder(tmp_path)
    names = ["a.z0", "a.z1", "b.z0"]
    strengths = np.arange(9, dtype=float).reshape(3, 3) / 10
    run.write_graph(names, strengths)
    table = pd.read_csv(tmp_path / "graph.csv")
    assert list(table.columns) == ["source", "target", "weight"]
    assert len(table) == 6
    row = table[(table.source == "a.z1") & (table.target == "b.z0")]
    assert row.weight.item() == pytest.approx(strengths[1, 2])


def test_model_reloads_from_plain_tensors_and_encodes_the_same(tmp_path):
    cohort = _cohort()
    config = _config(cohort)
    model = build_model(config, cohort.schema())
    result = fit(model, cohort, config)
    save_model(tmp_path, model, config, result.normaliser, cohort)

    state = torch.load(tmp_path / MODEL_FILE, weights_only=True)  # refuses arbitrary pickled objects
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["latent_names"] == ["a.z0", "b.z0"] and meta["schema"] == cohort.schema()

    loaded, loaded_config, normaliser = load_run(tmp_path)
    assert loaded_config == config
    before = encode_cohort(model, cohort, result.normaliser)
    after = encode_cohort(loaded, cohort, normaliser)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])
    np.testing.assert_array_equal(loaded.strengths(), model.strengths())

    # Another cohort with the same schema encodes; a different schema is refused with a readable error.
    table = encode_with_run(tmp_path, _cohort(n=30, seed=5))
    assert list(table.columns) == ["subject_id", "a.z0", "b.z0"] and len(table) == 30
    with pytest.raises(RunError, match="shape"):
        encode_with_run(tmp_path, _cohort(n=30, features=6))


def test_runs_saved_with_pairwise_orientations_still_load(tmp_path):
    """Runs saved before orders were sampled have one orientation per pair and no 'orientation' setting in
    their configuration: they load as such, with their graph unchanged."""
    cohort = _cohort()
    config = _config(cohort, "graph.orientation=pairwise", "train.epochs=1")
    model = build_model(config, cohort.schema())
    result = fit(model, cohort, config)
    save_model(tmp_path, model, config, result.normaliser, cohort)
    meta = json.loads((tmp_path / "model.json").read_text())
    del meta["config"]["graph"]["orientation"]  # as an older crl wrote it
    (tmp_path / "model.json").write_text(json.dumps(meta))
    loaded, loaded_config, _ = load_run(tmp_path)
    assert loaded_config.graph.orientation == "pairwise"
    np.testing.assert_array_equal(loaded.strengths(), model.strengths())


def test_load_run_explains_a_missing_model(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        load_run(tmp_path / "nowhere")
    run = RunFolder(tmp_path)
    run.set_state("running")
    with pytest.raises(RunError, match="no trained model.*running"):
        load_run(tmp_path)


def test_run_folder_callback_logs_checkpoints_and_resumes(tmp_path):
    cohort = _cohort()
    config = _config(cohort, "train.epochs=4")
    run = RunFolder(tmp_path)
    run.start(config, cohort, device="cpu")
    model = build_model(config, cohort.schema())

    class StopAfterTwo:
        def on_epoch(self, info):
            return info["epoch"] == 1

    result = fit(model, cohort, config, callbacks=[RunFolderCallback(run, cohort, config), StopAfterTwo()])
    assert result.stopped_by_callback and result.epochs_run == 2
    rows = run.read_metrics()
    assert [r["epoch"] for r in rows] == [0, 1]
    for key in (
        "step",
        "epoch",
        "total",
        "reconstruction",
        "likelihood",
        "sparsity",
        "acyclicity",
        "validation_loss",
        "validation.total",
        "reconstruction.a",
    ):
        assert key in rows[-1], key
    status = run.read_status()
    assert status["state"] == "running" and status["progress"]["epoch"] == 2

    state = load_training_state(training_state_path(tmp_path))
    assert state is not None and state["epoch"] == 2
    resumed = build_model(config, cohort.schema())
    result2 = fit(resumed, cohort, config, resume=state)
    assert result2.epochs_run == 4
    assert [h["epoch"] for h in result2.history] == [0, 1, 2, 3]


def test_stop_file_stops_training(tmp_path):
    cohort = _cohort()
    config = _config(cohort, "train.epochs=50")
    run = RunFolder(tmp_path)
    run.start(config, cohort, device="cpu")
    (tmp_path / "STOP").touch()
    result = fit(
        build_model(config, cohort.schema()),
        cohort,
        config,
        callbacks=[RunFolderCallback(run, cohort, config)],
    )
    assert result.stopped_by_callback and result.epochs_run == 1
    run.finish(result)
    assert run.read_status()["state"] == "stopped"
