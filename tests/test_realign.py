"""Block realignment finds the part of a modality the others predict, turns z onto it, and barely moves a split
that is already right; training runs it inside the warm-up, and a resumed run repeats it exactly."""

from __future__ import annotations

import math

import pytest
import torch
from test_train import _cohort, _config

from crl.config import apply_overrides, default_config
from crl.core.model import build_model
from crl.core.realign import aligned_turn, predictable_directions, realign_blocks
from crl.engine.fit import fit, realign_steps

torch.set_num_threads(1)

SCHEMA = {
    "a": {"kind": "tabular", "shape": [4], "features": [f"a{i}" for i in range(4)], "latents": 1},
    "b": {"kind": "tabular", "shape": [4], "features": [f"b{i}" for i in range(4)], "latents": 1},
}


def _shared_world(n: int = 3000):
    """`shared` drives both modalities (nonlinearly in b); every other coordinate is private noise."""
    g = torch.Generator().manual_seed(0)
    shared = torch.randn(n, generator=g)
    private = torch.randn(n, 4, generator=g)
    b = torch.stack([torch.tanh(1.5 * shared) + 0.3 * private[:, 2], private[:, 3]], 1)
    return shared, private, b


def _corr(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([x, y]))[0, 1].abs())


def test_the_most_predictable_combination_is_the_shared_one():
    shared, private, others = _shared_world()
    turn = torch.linalg.matrix_exp(torch.tensor([[0.0, 0.9, -0.4], [-0.9, 0.0, 0.7], [0.4, -0.7, 0.0]]))
    own = torch.stack([shared, private[:, 0], private[:, 1]], 1) @ turn.T  # the shared part, turned away
    shares, combos = predictable_directions(own, others, torch.Generator().manual_seed(1))
    assert _corr((own.double() @ combos[:, 0]).float(), shared) > 0.99
    assert shares[0] > 0.6 and abs(float(shares[1])) < 0.05 and abs(float(shares[2])) < 0.05


def test_the_turn_is_a_rotation_that_keeps_a_subspace_already_in_place():
    combos = torch.tensor([[2.0, 0.1, 0.0], [0.0, 1.0, 0.3], [0.0, 0.2, 1.0]], dtype=torch.float64)
    turn = aligned_turn(combos, 1)  # the first combination is already the first axis
    assert torch.allclose(turn.T @ turn, torch.eye(3, dtype=torch.float64), atol=1e-9)
    assert torch.linalg.det(turn) == pytest.approx(1.0)
    assert torch.allclose(turn, torch.eye(3, dtype=torch.float64), atol=1e-9)


def _model():
    config = apply_overrides(
        default_config(SCHEMA), ["modalities.a.eta=2", "modalities.b.eta=1", "modalities.a.width=8"]
    )
    return build_model(config, SCHEMA)


def _rotated(model, name: str, z: torch.Tensor, eta: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    """The coordinates the model's rotation now gives to the subjects whose coordinates were [z, eta]."""
    return torch.cat([z, eta], 1) @ (model.rotation(name).detach() @ before.T).T


def test_realignment_pulls_a_shared_latent_out_of_eta():
    shared, private, b = _shared_world()
    model = _model()
    before = {n: model.rotation(n).detach().clone() for n in ("a", "b")}
    z_a, eta_a = private[:, :1], torch.stack([private[:, 1], shared], 1)  # the shared part sits in eta
    z_b, eta_b = b[:, :1], b[:, 1:]
    moved = realign_blocks(
        model, torch.cat([z_a, z_b], 1), torch.cat([eta_a, eta_b], 1), torch.Generator().manual_seed(2)
    )
    new_a = _rotated(model, "a", z_a, eta_a, before["a"])
    assert _corr(new_a[:, 0], shared) > 0.99  # z of a is now the shared latent
    assert moved["a"] == pytest.approx(math.pi / 2, abs=0.05)
    assert moved["b"] < 0.05  # b's z already was what a predicts: it stays
    assert torch.allclose(model.rotation("b").detach(), before["b"], atol=0.05)


def test_training_realigns_inside_the_warm_up_and_a_resumed_run_repeats_it(monkeypatch):
    import crl.engine.warmup as train_module

    cohort = _cohort()
    config = _config(cohort, "train.epochs=6", "prior.realign=2", "loss.graph_warmup=0.5")
    steps_per_epoch = 180 // 50
    assert realign_steps(config, 6 * steps_per_epoch) == [3, 6]  # a third and two thirds of 9 warm-up steps
    calls = []
    real = train_module.realign_blocks
    monkeypatch.setattr(train_module, "realign_blocks", lambda *a, **k: calls.append(1) or real(*a, **k))

    class StopAfterOneEpoch:
        def on_epoch(self, info):
            self.state = info["training_state"]()
            return info["epoch"] == 0  # step 3: the first realignment is due next

    stopper = StopAfterOneEpoch()
    fit(build_model(config, cohort.schema()), cohort, config, callbacks=[stopper])
    assert calls == []
    resumed = build_model(config, cohort.schema())
    fit(resumed, cohort, config, resume=stopper.state)
    assert calls == [1, 1]
    whole = build_model(config, cohort.schema())
    fit(whole, cohort, config)
    assert all(torch.equal(v, whole.state_dict()[k]) for k, v in resumed.state_dict().items())
    off = apply_overrides(config, ["prior.realign=0"])
    assert realign_steps(off, 100) == []
    no_warmup = apply_overrides(config, ["loss.graph_warmup=0"])  # a sparsity-path level
    assert realign_steps(no_warmup, 100) == []
    assert realign_steps(config, 4) == [1]  # a tiny warm-up of 2 steps: one turn, not four at step 1
