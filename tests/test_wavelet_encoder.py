"""The PCA + texture image family (crl.core.nn.wavelet): wavelet energies hold a texture of random phase that no
linear code of the pixels holds, the decoder's error scores them, and the model's loss uses that error."""

from __future__ import annotations

import math

import numpy as np
import torch
from basis_training import train_image_family
from cohort_factory import IMAGE

from crl.core.model import build_model
from crl.core.nn.wavelet import WaveletBasis, WaveletDecoder, WaveletEnergy
from crl.engine.fit import fit

torch.set_num_threads(1)


def _wiggles(n: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Grey 32x32 images of a horizontal line, at a random height, that wiggles with amplitude exp(0.5 a) at a
    random phase: as a vessel does in the demo's photographs, wherever its branch happens to run."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    height = 8 + 16 * torch.rand(n, 1, generator=g)
    x = torch.arange(32.0)
    centre = height + 0.6 * torch.exp(0.5 * a)[:, None] * torch.sin(2 * math.pi * x / 7.0 + phase)
    rows = torch.arange(32.0)[None, :, None]
    images = torch.exp(-((rows - centre[:, None, :]) ** 2) / (2 * 1.2**2))  # (n, 32 rows, 32 columns)
    return images[:, None] + 0.02 * torch.randn(n, 1, 32, 32, generator=g), a.numpy()


def _linear_r2(y: np.ndarray, x: np.ndarray, train: slice, test: slice) -> float:
    """Held-out R² of the least-squares line from `x` to `y`."""
    design = np.hstack([x, np.ones((len(x), 1))])
    weights = np.linalg.lstsq(design[train], y[train], rcond=None)[0]
    return 1.0 - (y[test] - design[test] @ weights).var() / y[test].var()


def test_wavelet_energies_hold_a_random_phase_wiggle_that_pixel_components_miss():
    images, amplitude = _wiggles(600)
    basis = WaveletBasis((1, 32, 32))
    basis.fit(images[:480])
    pixels, energies = np.split(basis.coefficients(images).detach().numpy(), [basis.split[0]], axis=1)
    train, test = slice(0, 480), slice(480, 600)
    from_pixels = _linear_r2(amplitude, pixels, train, test)
    from_energies = _linear_r2(amplitude, energies[:, :20], train, test)
    assert from_energies > 0.8 and from_pixels < 0.2, (from_energies, from_pixels)


def test_the_energies_do_not_depend_on_where_the_wave_crests_fall():
    x = torch.arange(32.0)
    rows = torch.arange(32.0)[:, None]
    energy = WaveletEnergy((1, 32, 32))

    def line(phase: float) -> torch.Tensor:
        centre = 16 + 1.5 * torch.sin(2 * math.pi * x / 8.0 + phase)
        return torch.exp(-((rows - centre) ** 2) / 2.0)[None, None]

    same = energy(line(0.0)) - energy(line(math.pi / 2))
    flat = energy(line(0.0)) - energy(torch.exp(-((rows - 16 + 0 * x) ** 2) / 2.0)[None, None])
    assert same.abs().mean() < 0.2 * flat.abs().mean()


def test_the_decoder_scores_pixels_and_energies_and_gives_images():
    images, _ = _wiggles(64)
    decoder = WaveletDecoder((1, 32, 32), in_dim=3, depth=1, width=16)
    decoder.basis.fit(images)
    latent = torch.randn(8, 3, requires_grad=True)
    assert decoder(latent).shape == (8, 1, 32, 32)
    error = decoder.squared_error(latent, images[:8])
    assert error.shape == (8, 32 * 32 + decoder.basis.energy.size)
    pixel_part = (decoder(latent) - images[:8]).pow(2).flatten(1)
    torch.testing.assert_close(error[:, : 32 * 32], pixel_part)
    assert error[:, 32 * 32 :].sum() > 0
    error.sum().backward()
    energy_rows = decoder.net[-1].weight.grad[decoder.basis.split[0] :]
    assert energy_rows.abs().sum() > 0  # the energies' error trains the decoder's energy outputs


def test_training_uses_the_energy_error_and_a_resumed_run_keeps_both_bases(tmp_path):
    cohort, config, model, state = train_image_family(tmp_path, "wavelet")
    for network in (model.encoders[IMAGE], model.decoders[IMAGE]):
        assert bool(network.basis.fitted) and network.basis.energies.directions.abs().sum() > 0
    batch = {name: torch.randn(4, *model.shapes[name]) for name in model.names}
    z = torch.randn(4, sum(model.latent_sizes.values()))
    eta = torch.randn(4, sum(model.eta_sizes.values()))
    errors = model.squared_errors(z, eta, batch)
    pixels = math.prod(model.shapes[IMAGE])
    assert errors[IMAGE].shape == (4, pixels + model.decoders[IMAGE].basis.energy.size)
    saved = state["model"]
    key = f"encoders.{IMAGE}.basis.energies.mean"
    saved[key] += 1.0  # a mark: a basis fitted afresh would not carry it
    resumed = build_model(config, cohort.schema())
    fit(resumed, cohort, config, resume=state)
    np.testing.assert_array_equal(resumed.encoders[IMAGE].basis.energies.mean, saved[key])
