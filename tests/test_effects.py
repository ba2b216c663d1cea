"""Link effects read from the flows: zero where the flow ignores the cause, signed, and in standard deviations."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from crl.analysis.effects import link_effects
from crl.config import Config, GraphConfig, ModalityConfig
from crl.core.model import build_model

SCHEMA = {
    "a": {"kind": "tabular", "shape": [4], "features": [f"f{k}" for k in range(4)], "latents": 2},
    "b": {"kind": "tabular", "shape": [4], "features": [f"g{k}" for k in range(4)], "latents": 2},
}


LINKS = (("a.z0", "b.z0"), ("a.z1", "b.z1"), ("b.z0", "b.z1"))  # kept (strength 1); free links start at 0.2


@pytest.fixture(scope="module")
def model():
    config = Config(
        modalities={
            "a": ModalityConfig("tabular", "mlp", 1, 8, 2, 1),
            "b": ModalityConfig("tabular", "mlp", 1, 8, 2, 1),
        },
        graph=GraphConfig(required=LINKS, initial_strength=0.2),
    )
    torch.manual_seed(0)
    net = build_model(config, SCHEMA)
    with torch.no_grad():
        net.prior.w_out.mul_(100.0)  # parents matter clearly
        net.prior.w_out[:, :, 1] = 0.0  # log-scales do not depend on parents: the change is the shift's
        net.prior.b_out[:, 1] = 0.0
    return net.eval()


@pytest.fixture(scope="module")
def z():
    return np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)


def test_a_cause_the_flow_ignores_has_no_effect(model, z):
    silent = copy.deepcopy(model)
    source, target = silent.latent_names.index("a.z0"), silent.latent_names.index("b.z0")
    with torch.no_grad():
        silent.prior.w_in[target, source] = 0.0
        silent.prior.w_gate[target, source] = 0.0
    effects = link_effects(silent, z)
    assert effects[source, target] == 0.0
    assert abs(link_effects(model, z)[source, target]) > 0.05


def test_only_kept_links_have_an_effect(model, z):
    effects = link_effects(model, z)
    names = model.latent_names
    kept = {(names.index(s), names.index(t)) for s, t in LINKS}
    for i in range(len(names)):
        for j in range(len(names)):
            assert np.isfinite(effects[i, j]) == ((i, j) in kept), (names[i], names[j])


def test_flipping_the_flows_shift_flips_every_effect(model, z):
    flipped = copy.deepcopy(model)
    with torch.no_grad():
        flipped.prior.w_out[:, :, 0] *= -1.0
        flipped.prior.b_out[:, 0] *= -1.0
    np.testing.assert_allclose(link_effects(flipped, z), -link_effects(model, z), atol=1e-5)


def test_a_constant_latent_has_no_standard_deviation_to_measure_in(model, z):
    effects = link_effects(model, z)
    assert effects.shape == (4, 4)
    constant = z.copy()
    constant[:, 1] = 0.0
    still = link_effects(model, constant)
    assert np.all(np.nan_to_num(still[1]) == 0.0) and np.all(np.nan_to_num(still[:, 1]) == 0.0)
    assert still[1, 3] == 0.0  # a.z1 -> b.z1 is kept, and a.z1 never changes
