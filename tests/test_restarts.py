"""train.restarts: several seeds on one validation split, the lowest validation loss kept, resumable throughout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_train import _cohort, _config, _fake_loader

from crl.core.model import build_model
from crl.engine.fit import fit
from crl.engine.restarts import STATE_KEY, fit_restarts, overall_position, restart_config
from crl.errors import ConfigError
from crl.runs.checkpoint import load_training_state, save_training_state

torch.set_num_threads(1)
EPOCHS = 4


def _build(cohort):
    return lambda config: build_model(config, cohort.schema())


def _equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


class Recorder:
    """Every callback call, in order."""

    def __init__(self, stop_at_epoch: int | None = None):
        self.starts, self.epochs, self.restarts, self.steps, self.ends = [], [], [], [], []
        self.stop_at_epoch = stop_at_epoch
        self.state = None

    def on_start(self, info):
        self.starts.append(info)

    def on_step(self, info):
        self.steps.append(info["step"])

    def on_epoch(self, info):
        self.epochs.append(info["epoch"])
        self.restarts.append(info["restart"])
        if info["epoch"] == self.stop_at_epoch:
            self.state = info["training_state"]()
            return True
        return False

    def on_end(self, info):
        self.ends.append(info)


def test_restarts_keep_the_lowest_validation_loss_trained_exactly_as_that_seed_alone():
    cohort = _cohort()
    config = _config(cohort, "train.restarts=3", "train.seed=5")
    recorder = Recorder()
    result = fit_restarts(_build(cohort), cohort, config, callbacks=[recorder])

    assert [r["seed"] for r in result.restarts] == [5, 6, 7]
    losses = [r["best_validation_loss"] for r in result.restarts]
    assert result.restart == int(np.argmin(losses)) and result.best_validation_loss == min(losses)
    assert len(set(losses)) == 3  # the seeds really trained different models

    # The kept model is the one its seed trains alone, on the split drawn from the first seed.
    own = restart_config(config, result.restart)
    alone = build_model(own, cohort.schema())
    fit(alone, cohort, own, split_seed=5)
    assert _equal(alone.state_dict(), result.model.state_dict())
    assert not result.model.training

    # Restart 0 is the single run: the same seed and split.
    single = build_model(_config(cohort, "train.seed=5"), cohort.schema())
    plain = fit(single, cohort, _config(cohort, "train.seed=5"))
    assert plain.best_validation_loss == losses[0]
    assert np.array_equal(plain.validation_indices, result.validation_indices)

    # Callbacks see one long training.
    assert len(recorder.starts) == 1 and recorder.starts[0]["epochs"] == 3 * EPOCHS
    assert recorder.starts[0]["total_steps"] == 3 * plain.steps
    assert recorder.epochs == list(range(3 * EPOCHS))
    assert recorder.restarts == [0] * EPOCHS + [1] * EPOCHS + [2] * EPOCHS
    assert recorder.steps == sorted(recorder.steps) and len(set(recorder.steps)) == len(recorder.steps)
    assert len(recorder.ends) == 1 and recorder.ends[0]["restart"] == result.restart


def test_a_run_stopped_inside_a_restart_resumes_there_and_ends_as_if_never_stopped(tmp_path):
    cohort = _cohort()
    config = _config(cohort, "train.restarts=3")
    whole = fit_restarts(_build(cohort), cohort, config)

    stopper = Recorder(stop_at_epoch=EPOCHS + 1)  # the second epoch of restart 1
    stopped = fit_restarts(_build(cohort), cohort, config, callbacks=[stopper])
    assert stopped.stopped_by_callback and [r["restart"] for r in stopped.restarts] == [0]
    save_training_state(tmp_path, stopper.state)  # through the file, as a job does
    state = load_training_state(tmp_path)
    assert state[STATE_KEY]["index"] == 1 and overall_position(state)[1] == EPOCHS + 2

    after = Recorder()
    resumed = fit_restarts(_build(cohort), cohort, config, callbacks=[after], resume=state)
    assert after.starts[0]["start_epoch"] == EPOCHS + 2 and after.epochs[0] == EPOCHS + 2
    assert resumed.restarts == [
        {**r, "seconds": s["seconds"]} for r, s in zip(whole.restarts, resumed.restarts, strict=True)
    ]
    assert resumed.restart == whole.restart
    assert _equal(whole.model.state_dict(), resumed.model.state_dict())


def test_a_resume_after_the_best_restart_restores_its_weights():
    cohort = _cohort()
    config = _config(cohort, "train.restarts=2", "train.seed=1")
    whole = fit_restarts(_build(cohort), cohort, config)
    assert whole.restart == 0  # the premise: the restart kept is the one finished before the stop
    stopper = Recorder(stop_at_epoch=EPOCHS)  # the first epoch of restart 1
    fit_restarts(_build(cohort), cohort, config, callbacks=[stopper])
    resumed = fit_restarts(_build(cohort), cohort, config, resume=stopper.state)
    assert resumed.restart == whole.restart
    assert _equal(whole.model.state_dict(), resumed.model.state_dict())
    assert resumed.best_validation_loss == whole.best_validation_loss


@pytest.mark.parametrize("value", [0, 21])
def test_restarts_out_of_range_are_refused(value):
    with pytest.raises(ConfigError, match="train.restarts must lie between 1 and 20"):
        _config(_cohort(), f"train.restarts={value}")


def test_crl_train_records_every_restart_in_the_run_folder(tmp_path, monkeypatch, capsys):
    from crl.cli import main

    cohort = _cohort()
    _fake_loader(monkeypatch, cohort)
    run = tmp_path / "run"
    settings = [
        *("train.epochs=3", "train.min_epochs=1", "train.batch_size=50", "train.restarts=2"),
        "train.min_steps=0",
    ]
    args = ["train", str(tmp_path), "--out", str(run), "--device", "cpu"]
    assert main(args + [item for s in settings for item in ("--set", s)]) == 0
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "done" and [r["seed"] for r in status["restarts"]] == [0, 1]
    assert status["kept_restart"] in (0, 1) and status["progress"]["epoch"] == 6
    kept = status["restarts"][status["kept_restart"]]
    assert status["best_validation_loss"] == kept["best_validation_loss"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(6)) and [r["restart"] for r in rows] == [0] * 3 + [1] * 3
    _check_confidence_files(run, status["kept_restart"])

    capsys.readouterr()
    assert main(["runs", "status", str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    kept_line = f"restart {status['kept_restart']} (seed {kept['seed']}): best validation loss"
    assert [line for line in lines if line.endswith("(kept)")] == [
        f"{kept_line} {kept['best_validation_loss']:.6g} (kept)"
    ]


def _check_confidence_files(run, kept):
    """Every restart keeps its own results; the run's confidence names latents as its latents.csv does."""
    import pandas as pd

    from crl.runs.confidence import read_confidence, read_restarts

    restarts = read_restarts(run)
    assert [r.index for r in restarts] == [0, 1]
    shown = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")
    pd.testing.assert_frame_equal(restarts[kept].latents, shown.astype(float), check_exact=False, atol=1e-5)
    edges, stability = read_confidence(run)
    assert list(edges.columns) == ["source", "target", "frequency", "effect"]
    graph = pd.read_csv(run / "graph.csv")
    assert edges[["source", "target"]].equals(graph[["source", "target"]])
    assert edges["frequency"].between(0, 1).all()
    assert set(edges["frequency"]) <= {0.0, 0.5, 1.0}  # two restarts: present in none, one or both
    kept_links = graph["weight"] >= 0.5
    assert (
        edges["effect"][kept_links.to_numpy()].notna().all()
        and edges["effect"][~kept_links.to_numpy()].isna().all()
    )
    assert list(stability.index) == list(shown.columns)
    assert stability.between(0, 1).all()
    # The effects are read with the latents the saved (sign-oriented) model produces.
    from crl.analysis.effects import link_effects
    from crl.runs.checkpoint import load_run

    model = load_run(run)[0]
    expected = link_effects(model, shown.loc[:, model.latent_names].to_numpy(np.float32), 0.5)
    index = {name: i for i, name in enumerate(model.latent_names)}
    for s, t, effect in zip(edges["source"], edges["target"], edges["effect"], strict=True):
        if effect == effect:
            assert effect == pytest.approx(float(expected[index[s], index[t]]), abs=1e-4)
