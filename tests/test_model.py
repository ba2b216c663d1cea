"""The whole network: loss record, gradients, encode/decode shapes, baselines, seeded construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crl.config import apply_overrides, default_config
from crl.core.model import CRLModel, LossRecord, build_model
from crl.core.nn import model_shape

torch.set_num_threads(1)

SCHEMA = {
    "labs": {"kind": "tabular", "shape": [6], "features": [f"f{i}" for i in range(6)], "latents": 2},
    "sleep": {"kind": "timeseries", "shape": [2, 32], "features": ["hr", "spo2"], "latents": 2},
    "eye": {"kind": "image", "shape": [28, 28, 1], "features": ["gray"], "latents": 3},
}


def _config(method: str = "ours", **extra):
    overrides = [
        f"method={method}",
        "modalities.labs.width=16",
        "modalities.sleep.width=8",
        "modalities.eye.width=8",
    ]
    overrides += [f"{k}={v}" for k, v in extra.items()]
    return apply_overrides(default_config(SCHEMA), overrides)


def _batch(n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        name: torch.randn((n, *model_shape(spec["kind"], spec["shape"])), generator=g)
        for name, spec in SCHEMA.items()
    }


@pytest.mark.parametrize("method", ["ours", "no-graph", "beta-vae"])
def test_loss_record_terms_are_finite_and_total_is_their_weighted_sum(method):
    config = _config(method)
    model = build_model(config, SCHEMA)
    record = model.loss(_batch(), generator=torch.Generator().manual_seed(0))
    assert isinstance(record, LossRecord)
    floats = record.as_floats()
    for key in (
        "reconstruction.labs",
        "reconstruction.sleep",
        "reconstruction.eye",
        "reconstruction",
        "likelihood",
        "sparsity",
        "acyclicity",
        "total",
    ):
        assert key in floats and np.isfinite(floats[key]), key
    w = config.loss
    likelihood_weight = w.likelihood * (w.beta if method == "beta-vae" else 1.0)
    expected = (
        w.reconstruction * floats["reconstruction"]
        + likelihood_weight * floats["likelihood"]
        + w.sparsity * floats["sparsity"]
        + w.acyclicity * floats["acyclicity"]
    )
    assert floats["total"] == pytest.approx(expected, rel=1e-5)
    assert floats["reconstruction"] == pytest.approx(
        sum(floats[f"reconstruction.{m}"] for m in SCHEMA), rel=1e-5
    )


@pytest.mark.parametrize("method", ["ours", "no-graph", "beta-vae"])
def test_every_parameter_receives_a_gradient(method):
    model = build_model(_config(method), SCHEMA)
    model.loss(_batch(), generator=torch.Generator().manual_seed(0)).total.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    silent = [name for name, p in model.named_parameters() if p.grad.abs().sum() == 0]
    # Without a graph the flows see no parents: only their constant shift/scale (b_out) can learn.
    allowed_silent = {
        "ours": set(),
        "beta-vae": {"graph.existence", "graph.order"},
        "no-graph": {
            "graph.existence",
            "graph.order",
            "prior.w_in",
            "prior.w_gate",
            "prior.w_hidden",
            "prior.w_out",
        },
    }[method]
    assert set(silent) <= allowed_silent, silent


def test_a_frozen_representation_skips_its_backward_pass_and_changes_nothing_else():
    model = build_model(_config(), SCHEMA)
    grads = []
    for frozen in (False, True):
        model.zero_grad(set_to_none=True)
        record = model.loss(
            _batch(), generator=torch.Generator().manual_seed(0), warmup=0.5, frozen_representation=frozen
        )
        record.total.backward()
        grads.append({n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()})
        grads[-1]["total"] = record.total.detach()
    learning, frozen = grads
    assert torch.equal(learning["total"], frozen["total"])
    representation = [n for n in learning if n.startswith(("encoders", "decoders", "rotations"))]
    assert representation and all(frozen[n] is None for n in representation)
    assert all(learning[n] is not None for n in representation)
    rest = [n for n in learning if n != "total" and n not in representation]
    assert rest and all(torch.allclose(learning[n], frozen[n], atol=1e-6) for n in rest)


def test_encode_and_decode_shapes():
    model = build_model(_config(), SCHEMA)
    model.eval()
    batch = _batch(5)
    with torch.no_grad():
        latents = model.encode(batch)
        assert {k: tuple(v.shape) for k, v in latents.items()} == {
            "labs": (5, 2),
            "sleep": (5, 2),
            "eye": (5, 3),
        }
        z = torch.cat([latents[m] for m in model.names], 1)
        recon = model.decode(z, torch.zeros(5, model.n_eta))
    for name, x in batch.items():
        assert recon[name].shape == x.shape
    assert model.latent_names == ["labs.z0", "labs.z1", "sleep.z0", "sleep.z1", "eye.z0", "eye.z1", "eye.z2"]


def test_encoding_is_deterministic_and_loss_sampling_is_seeded():
    model = build_model(_config(), SCHEMA)
    batch = _batch()
    with torch.no_grad():
        a, b = model.encode(batch), model.encode(batch)
        assert all(torch.equal(a[k], b[k]) for k in a)
        l1 = model.loss(batch, generator=torch.Generator().manual_seed(5)).total
        l2 = model.loss(batch, generator=torch.Generator().manual_seed(5)).total
        l3 = model.loss(batch, generator=torch.Generator().manual_seed(6)).total
    assert l1 == l2 and l1 != l3


def test_build_model_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(99)
    before = torch.random.get_rng_state()
    m1 = build_model(_config(**{"train.seed": 3}), SCHEMA)
    assert torch.equal(torch.random.get_rng_state(), before)
    m2 = build_model(_config(**{"train.seed": 3}), SCHEMA)
    m3 = build_model(_config(**{"train.seed": 4}), SCHEMA)
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert any(not torch.equal(s1[k], s3[k]) for k in s1)


def test_no_graph_baseline_has_no_edges_and_ours_starts_with_all():
    ours = build_model(_config(), SCHEMA).strengths()
    none = build_model(_config("no-graph"), SCHEMA).strengths()
    off_diagonal = ~np.eye(7, dtype=bool)
    assert np.all(none == 0)
    assert np.all(ours[off_diagonal] > 0)


def test_beta_vae_uses_one_joint_encoder():
    model = build_model(_config("beta-vae"), SCHEMA)
    assert len(model.encoders) == 0 and hasattr(model, "joint_body")
    assert isinstance(model, CRLModel)


def test_likelihood_cannot_be_gamed_by_shrinking_latents():
    """Scaling the posterior (means and spreads) by c leaves the ELBO's KL unchanged up to the prior's own
    change of variables: with a prior rescaled by the same c, the KL is identical (docs/method.md §4 item 5)."""
    model = build_model(_config("no-graph"), SCHEMA)
    batch = _batch(64)
    with torch.no_grad():
        base = model.loss(batch, generator=torch.Generator().manual_seed(0)).likelihood
        for encoder in model.encoders.values():
            head = encoder.head
            head.mean.weight.mul_(0.1), head.mean.bias.mul_(0.1)
            head.logvar.bias.add_(2 * np.log(0.1))
        shrunk = model.loss(batch, generator=torch.Generator().manual_seed(0)).likelihood
    # A deterministic-encoder "NLL" would drop by about log(10) per latent; the KL must not.
    assert shrunk > base - 1.0


def test_graph_learns_from_the_likelihood_alone():
    """With sparsity and acyclicity switched off, every free edge still receives a gradient (docs/method.md §4 item 1)."""
    model = build_model(_config(**{"loss.sparsity": 0, "loss.acyclicity": 0}), SCHEMA)
    record = model.loss(_batch(32), generator=torch.Generator().manual_seed(0))
    record.total.backward()
    off_diagonal = ~torch.eye(model.n_latent, dtype=torch.bool)
    existence = model.graph.existence.grad
    # Pairs share one existence (symmetrised), so each pair's two entries together carry its gradient.
    pair = (existence + existence.t())[off_diagonal]
    assert (pair.abs() > 0).all(), existence
    assert model.graph.order.grad.abs().sum() > 0


def test_calibrated_noise_weighs_the_error_by_its_own_size_and_unknown_noise_is_refused():
    from crl.errors import ConfigError

    fixed = build_model(_config(), SCHEMA)
    calibrated = build_model(_config(**{"modalities.eye.noise": "calibrated"}), SCHEMA)
    calibrated.load_state_dict(fixed.state_dict())
    target = _batch()["eye"]
    recon = target + 0.1 * torch.randn(target.shape, generator=torch.Generator().manual_seed(3))
    recon.requires_grad_(True)
    error = (recon - target).pow(2).flatten(1)
    variance = error.mean().item()
    value = calibrated._reconstruction("eye", (recon - target).pow(2).flatten(1))
    expected = (error / (2 * variance)).sum(1).mean() + 0.5 * error.shape[1] * np.log(variance)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    (grad_calibrated,) = torch.autograd.grad(value, recon)
    (grad_fixed,) = torch.autograd.grad(
        fixed._reconstruction("eye", (recon - target).pow(2).flatten(1)), recon
    )
    # The same direction, scaled by 1 / (2 variance): a small error weighs more than under the fixed noise.
    torch.testing.assert_close(grad_calibrated, grad_fixed / (2 * variance), rtol=1e-4, atol=1e-6)
    assert fixed._reconstruction("labs", _batch()["labs"].pow(2)).item() > 0
    with pytest.raises(ConfigError, match="noise 'loud' is unknown"):
        _config(**{"modalities.eye.noise": "loud"})
