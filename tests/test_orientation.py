"""Reflecting latents changes nothing the model computes: encodings flip sign, decodings and the prior do not move."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crl.config import apply_overrides, default_config
from crl.core.model import build_model
from crl.core.nn import model_shape
from crl.core.orientation import reflect_latents

torch.set_num_threads(1)

SCHEMA = {
    "labs": {"kind": "tabular", "shape": [6], "features": [f"f{i}" for i in range(6)], "latents": 2},
    "sleep": {"kind": "timeseries", "shape": [2, 32], "features": ["hr", "spo2"], "latents": 2},
    "eye": {"kind": "image", "shape": [16, 16, 1], "features": ["gray"], "latents": 3},
}
SIGNS = torch.tensor([-1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0])

VARIANTS = {
    "rotated, affine": [],
    "rotated, spline": ["prior.flow=spline"],
    "no rotation": ["prior.rotation=false"],
    "block unmixing": ["prior.unmix=1"],
    "gru and mlp images": ["modalities.sleep.encoder=gru", "modalities.eye.encoder=mlp"],
    "no-graph": ["method=no-graph"],
    "beta-vae": ["method=beta-vae"],
}


def _model(extra: list[str]):
    config = apply_overrides(
        default_config(SCHEMA),
        [
            "modalities.labs.width=16",
            "modalities.sleep.width=8",
            "modalities.eye.width=8",
            "modalities.eye.eta=2",
        ]
        + extra,
    )
    model = build_model(config, SCHEMA).eval()
    with torch.no_grad():  # trained-looking weights: turned blocks, parents that matter, bent splines
        g = torch.Generator().manual_seed(1)
        for parameter in model.rotations.values():
            parameter.copy_(torch.randn(parameter.shape, generator=g))
        if model.unmixing is not None:
            for name in model.names:
                k = model.latent_sizes[name]
                model.unmixing.compose(name, torch.eye(k) + 0.5 * torch.randn(k, k, generator=g))
        if model.prior is not None:
            model.prior.w_out.copy_(torch.randn(model.prior.w_out.shape, generator=g))
            model.prior.b_out.copy_(torch.randn(model.prior.b_out.shape, generator=g))
    return model


def _batch(n: int = 5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        name: torch.randn((n, *model_shape(spec["kind"], spec["shape"])), generator=g)
        for name, spec in SCHEMA.items()
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_reflection_flips_encodings_and_keeps_decodings_and_prior(variant):
    model = _model(VARIANTS[variant])
    batch = _batch()
    z, _, eta, _ = model.posterior(batch)
    before = model.decode(z, eta)
    gates = model.graph.sample_gates(5, generator=torch.Generator().manual_seed(2), mode="hard")
    log_p = model.prior.log_prob(z, gates) if model.prior is not None else None

    reflect_latents(model, SIGNS)

    z_new, _, eta_new, _ = model.posterior(batch)
    torch.testing.assert_close(z_new, SIGNS * z, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(eta_new, eta, rtol=1e-4, atol=1e-4)
    after = model.decode(SIGNS * z, eta)
    for name in before:
        torch.testing.assert_close(after[name], before[name], rtol=1e-4, atol=1e-4)
    if log_p is not None:
        torch.testing.assert_close(model.prior.log_prob(SIGNS * z, gates), log_p, rtol=1e-4, atol=1e-4)
        assert not torch.allclose(model.prior.log_prob(z, gates), log_p, atol=1e-3)  # the check has teeth


def test_all_positive_signs_leave_the_weights_alone_and_bad_signs_are_refused():
    model = _model([])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    reflect_latents(model, torch.ones(7))
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="one sign"):
        reflect_latents(model, torch.ones(6))
    with pytest.raises(ValueError, match="one sign"):
        reflect_latents(model, torch.tensor([1.0, 0, 1, 1, 1, 1, 1]))


def _tabular_cohort(n: int = 150):
    import numpy as np

    from crl.data.cohort import Cohort, Modality

    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, 2))
    a = np.tanh(z @ rng.standard_normal((2, 5))) + 0.05 * rng.standard_normal((n, 5))
    b = (z[:, :1] ** 3) @ rng.standard_normal((1, 4)) + 0.05 * rng.standard_normal((n, 4))
    mods = {
        "a": Modality("a", "tabular", a.astype(np.float32), [f"a{i}" for i in range(5)], latents=2),
        "b": Modality("b", "tabular", b.astype(np.float32), [f"b{i}" for i in range(4)], latents=1),
    }
    return Cohort("tiny", np.array([f"S{i:03d}" for i in range(n)]), mods)


def test_canonical_signs_follow_the_most_correlated_feature_of_the_own_modality():
    import numpy as np

    from crl.engine.orientation import canonical_signs

    cohort = _tabular_cohort()
    a, b = cohort.modalities["a"].data, cohort.modalities["b"].data
    latents = {
        "a": np.stack([-3 * a[:, 2] + 0.01 * a[:, 0], a[:, 4]], 1),  # falls with a2, rises with a4
        "b": -b[:, :1] + 0.001,  # b's own features decide, not a's
    }
    signs = canonical_signs(latents, cohort)
    assert signs["a"].tolist() == [-1.0, 1.0] and signs["b"].tolist() == [-1.0]


def test_a_written_run_rises_with_its_strongest_feature_and_its_model_agrees(tmp_path):
    import numpy as np
    import pandas as pd
    from test_run_folder import _config as run_folder_config

    from crl.analysis.drivers import observed_features, top_features
    from crl.engine.fit import encode_cohort, fit
    from crl.runs.checkpoint import load_run
    from crl.runs.folder import RunFolder
    from crl.runs.results import write_results

    cohort = _tabular_cohort()
    config = run_folder_config(cohort)  # a few tiny epochs on the CPU
    flipped = 0
    for seed in range(3):  # three seeds: some latent needs turning in at least one of them
        run = RunFolder(tmp_path / f"run{seed}")
        model = build_model(apply_overrides(config, [f"train.seed={seed}"]), cohort.schema())
        result = fit(model, cohort, config)
        raw = encode_cohort(model, cohort, result.normaliser)
        write_results(run, model, cohort, config, result.normaliser)
        table = pd.read_csv(run.path / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")
        features, owners = observed_features(cohort)
        for latent, drivers in top_features(table, features, owners, k=1).items():
            assert drivers[0][1] > 0, (latent, drivers)
        flipped += int(
            sum((np.sign(raw[m][0]) != np.sign(table.filter(like=f"{m}.").to_numpy()[0])).sum() for m in raw)
        )
        loaded, _, normaliser = load_run(run.path)
        encoded = encode_cohort(loaded, cohort, normaliser)
        np.testing.assert_allclose(
            np.concatenate([encoded[m] for m in loaded.names], 1), table.to_numpy(), rtol=1e-4, atol=1e-4
        )
    assert flipped > 0


def test_link_effects_only_change_sign_when_a_latent_is_reflected():
    from crl.analysis.effects import link_effects

    model = _model(["graph.initial_strength=0.9"])  # bent flows (random output weights); 0.45 each way
    z, _, _, _ = model.posterior(_batch(64))
    before = link_effects(model, z.detach().numpy(), threshold=0.3)
    reflect_latents(model, SIGNS)
    after = link_effects(model, (SIGNS * z).detach().numpy(), threshold=0.3)
    kept = ~np.isnan(before)
    assert kept.sum() > 3 and np.isnan(after[~kept]).all()
    expected = before * np.outer(SIGNS.numpy(), SIGNS.numpy())
    np.testing.assert_allclose(after[kept], expected[kept], rtol=1e-3, atol=1e-4)
