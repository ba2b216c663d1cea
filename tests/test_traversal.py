"""Traversals and interventions on a small untrained model whose graph is fixed by required edges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crl.analysis import traversal as tv
from crl.config import Config, GraphConfig, ModalityConfig
from crl.core.model import build_model
from crl.data.cohort import Cohort, Modality, Normaliser
from crl.errors import CrlError

torch.set_num_threads(1)

SCHEMA = {
    "labs": {"kind": "tabular", "shape": [5], "features": [f"f{k}" for k in range(5)], "latents": 2},
    "sleep": {"kind": "timeseries", "shape": [2, 12], "features": ["hr", "spo2"], "latents": 2},
    "eye": {"kind": "image", "shape": [8, 8], "features": ["gray"], "latents": 1},
}
# labs.z0 -> sleep.z0 -> sleep.z1; labs.z1 and eye.z0 are not downstream of labs.z0.
EDGES = (("labs.z0", "sleep.z0"), ("sleep.z0", "sleep.z1"))
THRESHOLD = 0.6  # free edges start at strength 0.2 or below, required ones are 1


@pytest.fixture(scope="module")
def model():
    config = Config(
        modalities={
            "labs": ModalityConfig("tabular", "mlp", 1, 16, 2, 1),
            "sleep": ModalityConfig("timeseries", "mlp", 1, 16, 2, 1),
            "eye": ModalityConfig("image", "mlp", 1, 16, 1, 1),
        },
        graph=GraphConfig(required=EDGES, initial_strength=0.2),
    )
    net = build_model(config, SCHEMA)
    with torch.no_grad():
        net.prior.w_out.mul_(100.0)  # the prior starts near N(0, I); make parents matter clearly
    return net.eval()


@pytest.fixture(scope="module")
def normaliser():
    return Normaliser(
        centre={
            "labs": np.arange(5, dtype=np.float32),
            "sleep": np.full((2, 1), 50.0, np.float32),
            "eye": np.full((1, 1), 127.5, np.float32),
        },
        scale={
            "labs": np.linspace(1, 2, 5).astype(np.float32),
            "sleep": np.full((2, 1), 3.0, np.float32),
            "eye": np.full((1, 1), 127.5, np.float32),
        },
    )


def _subject(model, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=model.n_latent).astype(np.float32),
        rng.normal(size=model.n_eta).astype(np.float32),
    )


def _index(model, name):
    return model.latent_names.index(name)


def test_traversal_changes_only_its_modality_in_original_units(model, normaliser):
    z, eta = _subject(model)
    values = np.linspace(-2, 2, 5)
    decoded = tv.traverse(model, normaliser, z, eta, "labs.z0", values)
    assert decoded["labs"].shape == (5, 5)
    assert decoded["sleep"].shape == (5, 2, 12)
    assert decoded["eye"].shape == (5, 8, 8)
    assert np.ptp(decoded["labs"], axis=0).max() > 1e-3
    # Each modality's decoder reads only its own latents: moving a labs latent alone leaves the others be.
    assert np.array_equal(decoded["sleep"], np.repeat(decoded["sleep"][:1], 5, axis=0))
    assert decoded["eye"].min() >= 0 and decoded["eye"].max() <= 255
    # Original units: a shifted centre shifts the decoded values by exactly that much.
    moved = Normaliser({**normaliser.centre, "labs": normaliser.centre["labs"] + 10}, normaliser.scale)
    shifted = tv.traverse(model, moved, z, eta, "labs.z0", values)
    np.testing.assert_allclose(shifted["labs"] - decoded["labs"], 10.0, atol=1e-4)


def test_zero_range_traversal_changes_nothing(model, normaliser):
    z, eta = _subject(model)
    decoded = tv.traverse(model, normaliser, z, eta, 0, np.full(4, 0.7))
    for x in decoded.values():
        assert np.array_equal(x, np.repeat(x[:1], 4, axis=0))
    steps = tv.largest_change(decoded, {m: x[:1] for m, x in decoded.items()}, normaliser)
    assert steps == {"labs": 0.0, "sleep": 0.0, "eye": 0.0}


def test_topological_order_puts_parents_first_and_refuses_cycles():
    a = np.zeros((4, 4), int)
    a[3, 1] = a[1, 0] = a[2, 0] = 1
    order = tv.topological_order(a)
    assert sorted(order) == [0, 1, 2, 3]
    for i, j in zip(*np.nonzero(a), strict=False):
        assert order.index(i) < order.index(j)
    assert tv.descendants(a, 3) == [0, 1]
    a[0, 3] = 1
    with pytest.raises(CrlError, match="cycle among a, b, d"):
        tv.topological_order(a, ["a", "b", "c", "d"])


def test_acyclic_threshold_drops_the_weakest_link_of_a_cycle():
    s = np.zeros((3, 3))
    s[0, 1], s[1, 2], s[2, 0] = 0.9, 0.8, 0.637  # a cycle whose weakest link is 2 -> 0
    assert tv.acyclic_threshold(s, 0.5) == pytest.approx(0.64)
    assert tv.acyclic_threshold(s, 0.7) == pytest.approx(0.7)  # already acyclic there
    s[2, 0] = 1.0
    s[0, 1] = s[1, 2] = 1.0
    assert tv.acyclic_threshold(s, 0.5) is None


def test_abduction_then_prediction_reproduces_z(model):
    z = np.random.default_rng(1).normal(size=(64, model.n_latent)).astype(np.float32) * 2
    adjacency = tv.thresholded_adjacency(model, THRESHOLD)
    assert {
        (model.latent_names[i], model.latent_names[j]) for i, j in zip(*np.nonzero(adjacency), strict=True)
    } == set(EDGES)
    eps = tv.abduct(model, z, adjacency)
    assert np.abs(eps - z).max() > 0.1  # the flow is not the identity, so the round trip means something
    np.testing.assert_allclose(tv.predict(model, eps, adjacency), z, atol=1e-4)
    # do(z_i = its own value) is no intervention at all.
    same = tv.intervene(
        model, _normaliser_identity(model), z[0], np.zeros(model.n_eta), 0, z[0, 0], THRESHOLD
    )
    for name in same.after:
        np.testing.assert_allclose(same.after[name], same.before[name], atol=1e-4)


def _normaliser_identity(model):
    centre = {"labs": np.zeros(5, np.float32), "sleep": np.zeros((2, 1), np.float32), "eye": np.zeros((1, 1))}
    scale = {"labs": np.ones(5, np.float32), "sleep": np.ones((2, 1), np.float32), "eye": np.ones((1, 1))}
    return Normaliser(centre, scale)


def test_intervention_moves_descendants_and_leaves_the_rest_exactly(model, normaliser):
    z, eta = _subject(model, seed=2)
    before, after, changed = tv.intervene(model, normaliser, z, eta, "labs.z0", z[0] + 2.5, THRESHOLD)
    assert list(changed) == ["labs.z0", "sleep.z0", "sleep.z1"]
    assert changed["labs.z0"] == (pytest.approx(z[0]), pytest.approx(z[0] + 2.5))
    for name in ("sleep.z0", "sleep.z1"):
        b, a = changed[name]
        assert b == pytest.approx(z[_index(model, name)]) and abs(a - b) > 1e-3
    assert np.abs(after["labs"] - before["labs"]).max() > 1e-3
    assert np.abs(after["sleep"] - before["sleep"]).max() > 1e-3
    assert np.array_equal(after["eye"], before["eye"])  # no latent of the eye is downstream
    # A known "before" (e.g. cached) gives the same result with only the counterfactual decoded.
    known = {m: x[0] for m, x in tv.decode(model, normaliser, z[None], eta[None]).items()}
    again = tv.intervene(model, normaliser, z, eta, "labs.z0", z[0] + 2.5, THRESHOLD, before=known)
    for name in after:
        np.testing.assert_allclose(again.after[name], after[name], atol=1e-4)
        np.testing.assert_allclose(again.before[name], before[name], atol=1e-4)
    # The same intervention through traverse(threshold=...) gives the same decoded sleep signal.
    path = tv.traverse(model, normaliser, z, eta, "labs.z0", [z[0] + 2.5], threshold=THRESHOLD)
    np.testing.assert_allclose(path["sleep"][0], after["sleep"], atol=1e-4)


def test_intervening_on_a_sink_changes_only_its_modality(model, normaliser):
    z, eta = _subject(model, seed=3)
    before, after, changed = tv.intervene(model, normaliser, z, eta, "sleep.z1", -1.0, THRESHOLD)
    assert list(changed) == ["sleep.z1"]
    assert np.array_equal(after["labs"], before["labs"])
    assert np.array_equal(after["eye"], before["eye"])
    assert np.abs(after["sleep"] - before["sleep"]).max() > 1e-3


def test_batched_intervention_keeps_non_descendants_per_subject(model, normaliser):
    rng = np.random.default_rng(4)
    z = rng.normal(size=(6, model.n_latent)).astype(np.float32)
    eta = rng.normal(size=(6, model.n_eta)).astype(np.float32)
    latents, below = tv.counterfactual_latents(model, z, "labs.z0", 1.5, THRESHOLD)
    assert below == [_index(model, "sleep.z0"), _index(model, "sleep.z1")]
    keep = [_index(model, "labs.z1"), _index(model, "eye.z0")]
    assert np.array_equal(latents[:, keep], z[:, keep])
    assert np.all(latents[:, 0] == 1.5)
    before, after, _ = tv.intervene(model, normaliser, z, eta, 0, 1.5, THRESHOLD)
    assert after["sleep"].shape == (6, 2, 12)


def test_cohort_posterior_and_the_average_subject(model, normaliser):
    rng = np.random.default_rng(5)
    n = 10
    cohort = Cohort(
        "tiny",
        np.array([f"s{i}" for i in range(n)]),
        {
            "labs": Modality(
                "labs", "tabular", rng.normal(size=(n, 5)).astype(np.float32), SCHEMA["labs"]["features"]
            ),
            "sleep": Modality(
                "sleep", "timeseries", rng.normal(size=(n, 2, 12)).astype(np.float32), ["hr", "spo2"]
            ),
            "eye": Modality("eye", "image", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8), ["gray"], 1),
        },
    )
    z, eta = tv.cohort_posterior(model, cohort, normaliser, batch_size=4)
    assert z.shape == (n, model.n_latent) and eta.shape == (n, model.n_eta)
    mean_z, mean_eta = tv.mean_subject(z, eta)
    np.testing.assert_allclose(mean_z, z.mean(0), rtol=1e-6)
    values = tv.traversal_values(z, 1, spread=2.0, steps=5)
    assert values[2] == pytest.approx(z[:, 1].mean(), abs=1e-6)
    assert values[-1] - values[0] == pytest.approx(4 * z[:, 1].std(), rel=1e-5)
    with pytest.raises(CrlError, match="not in this model"):
        tv.latent_index(model, "labs.z9")
