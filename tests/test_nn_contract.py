"""Contract for every encoder/decoder family: shapes, gradients to every parameter, save/load, train vs eval."""

from __future__ import annotations

import io

import pytest
import torch

from crl.core.nn import REGISTRY, build_decoder, build_encoder, model_shape, to_model_layout

torch.set_num_threads(1)

# (family, kind, cohort-layout observation shape)
CASES = [
    ("mlp", "tabular", (7,)),
    ("cnn1d", "timeseries", (3, 50)),
    ("gru", "timeseries", (2, 24)),
    ("mlp", "timeseries", (2, 16)),
    ("resnet", "image", (28, 28, 1)),
    ("resnet", "image", (32, 40, 3)),
    ("mlp", "image", (12, 12, 1)),
    ("pca", "image", (16, 16, 3)),
    ("wavelet", "image", (16, 16, 3)),
    ("wavelet", "image", (20, 24, 1)),
]


def _batch(kind: str, shape: tuple[int, ...], n: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn((n, *shape), generator=g)
    return to_model_layout(kind, x)


def _pair(family: str, kind: str, shape: tuple[int, ...], out_dim: int = 3):
    torch.manual_seed(0)
    inner = model_shape(kind, shape)
    depth = 2 if family in ("mlp", "gru") else 0
    encoder = build_encoder(family, inner, out_dim, depth=depth, width=16)
    decoder = build_decoder(family, inner, out_dim, depth=depth, width=16)
    for network in (encoder, decoder):  # a family with a data-fitted basis (pca) is fitted, as training does
        if hasattr(network, "basis"):
            network.basis.fit(_batch(kind, shape, n=40))
    return inner, encoder, decoder


def test_registry_covers_every_family_in_the_cases():
    assert {family for family, _, _ in CASES} == set(REGISTRY)


@pytest.mark.parametrize("family,kind,shape", CASES)
def test_shapes(family, kind, shape):
    inner, encoder, decoder = _pair(family, kind, shape)
    x = _batch(kind, shape)
    mean, logvar = encoder(x)
    assert mean.shape == (5, 3) and logvar.shape == (5, 3)
    assert torch.isfinite(logvar).all()
    assert decoder(mean).shape == (5, *inner)


@pytest.mark.parametrize("family,kind,shape", CASES)
def test_gradient_reaches_every_parameter(family, kind, shape):
    _, encoder, decoder = _pair(family, kind, shape)
    x = _batch(kind, shape)
    mean, logvar = encoder(x)
    loss = (decoder(mean + logvar.exp()) - x).pow(2).mean() + logvar.mean()
    loss.backward()
    for module in (encoder, decoder):
        for name, p in module.named_parameters():
            assert p.grad is not None, f"{family}: {name} got no gradient"
            assert p.grad.abs().sum() > 0, f"{family}: {name} got a zero gradient"


@pytest.mark.parametrize("family,kind,shape", CASES)
def test_save_load_round_trip(family, kind, shape):
    _, encoder, decoder = _pair(family, kind, shape)
    x = _batch(kind, shape)
    buffer = io.BytesIO()
    torch.save({"encoder": encoder.state_dict(), "decoder": decoder.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    torch.manual_seed(123)  # different initial weights, so equality proves the load worked
    inner = model_shape(kind, shape)
    depth = 2 if family in ("mlp", "gru") else 0
    encoder2 = build_encoder(family, inner, 3, depth=depth, width=16)
    decoder2 = build_decoder(family, inner, 3, depth=depth, width=16)
    encoder2.load_state_dict(state["encoder"])
    decoder2.load_state_dict(state["decoder"])
    encoder.eval(), encoder2.eval(), decoder.eval(), decoder2.eval()
    with torch.no_grad():
        m1, v1 = encoder(x)
        m2, v2 = encoder2(x)
        assert torch.equal(m1, m2) and torch.equal(v1, v2)
        assert torch.equal(decoder(m1), decoder2(m2))


@pytest.mark.parametrize("family,kind,shape", CASES)
def test_training_step_changes_weights_and_evaluation_does_not(family, kind, shape):
    _, encoder, decoder = _pair(family, kind, shape)
    x = _batch(kind, shape)
    params = list(encoder.parameters()) + list(decoder.parameters())
    before = [p.detach().clone() for p in params]

    encoder.eval(), decoder.eval()
    with torch.no_grad():
        mean, _ = encoder(x)
        decoder(mean)
    assert all(torch.equal(a, p) for a, p in zip(before, params, strict=False)), (
        "evaluation changed the weights"
    )

    encoder.train(), decoder.train()
    optimizer = torch.optim.Adam(params, lr=1e-2)
    mean, logvar = encoder(x)
    loss = (decoder(mean) - x).pow(2).mean() + logvar.pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    changed = sum(not torch.equal(a, p) for a, p in zip(before, params, strict=False))
    assert changed == len(params), f"{len(params) - changed} parameter tensors did not move"
