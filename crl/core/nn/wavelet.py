"""An MLP on a photograph's principal components and on its wavelet energies (a fixed Gabor filter bank).

Why: some causes change a photograph's texture, not its average look. On the demo, vessel tortuosity moves each
vessel sideways by a wave of random phase, so no linear code of the pixels holds it (R² 0.24 from 50 principal
components) and a pixel decoder cannot predict the wiggle; the energy of the photograph's small oriented
waves holds it (R² 0.83-0.86 from the pooled modulus of a Gabor bank; bench/results/FINDINGS.md, session 17). This
family reads and reconstructs both: the whitened principal components of the pixels, as the `pca` family, and
those of the log wavelet energies. Its decoder gives ordinary images to every consumer (traversals, previews);
its reconstruction error adds the energies' squared error to the pixels', so the latents must carry texture
too. The filters are fixed and the bases are buffers, saved with the weights (no pickled objects). On the
demo it carries tortuosity into the latents (R² 0.47-0.64) but loses the cross-modal links, so the demo keeps
`pca`; on the images preset it beats `pca`, not the ResNets.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from crl.core.nn.pca import PCABasis, PCADecoder, PCAEncoder

WAVELENGTHS = (3.0, 5.0, 8.0)  # pixels: from a vessel's width to a wiggle's period
ORIENTATIONS = 6  # directions per wavelength, over half a turn
STRIDE = 2  # responses every other pixel: the pooling averages them anyway, at a quarter of the cost
GRID = 8  # each energy map is averaged onto a GRID x GRID grid: where in the photograph the texture is
FLOOR = 1e-3  # added to the energy before its log, against log(0) on flat regions
FIT_CHUNK = 256  # photographs transformed at a time while fitting the basis


def _gabor(wavelength: float, angle: float) -> torch.Tensor:
    """`(2, 1, s, s)`: the real and imaginary parts of a zero-mean complex Gabor filter, unit L1 norm."""
    half = int(round(wavelength))
    r = torch.arange(-half, half + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    sigma = 0.56 * wavelength  # about one octave of bandwidth
    along = xx * math.cos(angle) + yy * math.sin(angle)
    g = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2)) * torch.exp(1j * 2 * math.pi * along / wavelength)
    g = g - g.mean()
    g = g / g.abs().sum()
    return torch.stack([g.real, g.imag])[:, None].float()


class WaveletEnergy(nn.Module):
    """`(batch, C, H, W)` -> `(batch, len(WAVELENGTHS) * ORIENTATIONS * g * g)`: per wavelength and direction, the
    log of the filter response's modulus on the luminance (the channels' mean; colour reaches the latents
    through the pixels' components), averaged over a g x g grid (g = GRID, or fewer on small images).
    Phase-free, so a wiggle of random phase gives the same energy wherever its crests fall. The energies are
    a fixed function of the data, so they carry no gradient, and the encoder and the decoder's error share one
    computation per batch (`_last`)."""

    _last: tuple[torch.Tensor, int, torch.Tensor] | None = None  # (input, its version, energies), one batch

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        _, height, width = shape
        for i, wavelength in enumerate(WAVELENGTHS):
            angles = [math.pi * k / ORIENTATIONS for k in range(ORIENTATIONS)]
            self.register_buffer(f"filters{i}", torch.cat([_gabor(wavelength, a) for a in angles]))
        self.grid = max(1, min(GRID, math.ceil(height / STRIDE), math.ceil(width / STRIDE)))
        self.size = len(WAVELENGTHS) * ORIENTATIONS * self.grid**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = WaveletEnergy._last
        if last is not None and last[0] is x and last[1] == x._version and last[2].device == x.device:
            return last[2]
        energies = self._compute(x)
        WaveletEnergy._last = (x, x._version, energies)
        return energies

    @torch.no_grad()
    def _compute(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        luminance = x.float().mean(1, keepdim=True)
        energies = []
        for i in range(len(WAVELENGTHS)):
            filters = getattr(self, f"filters{i}")
            out = F.conv2d(luminance, filters, padding=filters.shape[-1] // 2, stride=STRIDE)
            real, imag = out[:, 0::2], out[:, 1::2]
            modulus = (real.pow(2) + imag.pow(2) + 1e-12).sqrt()
            energies.append(F.adaptive_avg_pool2d(modulus, self.grid).reshape(n, -1))
        return torch.log(torch.cat(energies, 1) + FLOOR)


class WaveletBasis(nn.Module):
    """Two fixed linear bases: the pixels' principal components and the wavelet energies', side by side; an
    observation is read back through the pixels' alone."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.energy = WaveletEnergy(tuple(shape))
        self.pixels = PCABasis(tuple(shape))
        self.energies = PCABasis((self.energy.size,))
        self.split = [self.pixels.components, self.energies.components]
        self.components = sum(self.split)

    @property
    def fitted(self) -> torch.Tensor:
        return self.pixels.fitted & self.energies.fitted

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        self.pixels.fit(x)
        self.energies.fit(torch.cat([self.energy(part) for part in torch.split(x, FIT_CHUNK)]))

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, C, H, W)` -> whitened coefficients of the pixels and of the energies, side by side."""
        return torch.cat([self.pixels.coefficients(x), self.energies.coefficients(self.energy(x))], 1)

    def observation(self, coefficients: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Both sets of coefficients -> images `(batch, *shape)`, from the pixels' part."""
        return self.pixels.observation(coefficients[:, : self.split[0]], shape)


class WaveletEncoder(PCAEncoder):
    """The `pca` encoder, reading the pixels' and the energies' coefficients."""

    Basis = WaveletBasis


class WaveletDecoder(PCADecoder):
    """The `pca` decoder to both sets of coefficients, giving images; `squared_error` also scores the energies."""

    Basis = WaveletBasis

    def squared_error(self, latent: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """`(batch, pixels + energies)`: each pixel's squared error and each log energy's."""
        coefficients = self.net(latent)
        image = self.basis.observation(coefficients, self.shape)
        energies = coefficients[:, self.basis.split[0] :]
        energy = self.basis.energies.observation(energies, (self.basis.energy.size,))
        return torch.cat(
            [
                (image.float() - target.float()).pow(2).flatten(1),
                (energy.float() - self.basis.energy(target)).pow(2),
            ],
            1,
        )


__all__ = ["WaveletBasis", "WaveletDecoder", "WaveletEncoder", "WaveletEnergy"]
