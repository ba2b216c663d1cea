"""An MLP on a modality's principal components: a fixed linear basis fitted on the training data before the
first step, then a small network on the whitened coefficients (encoder) or back to them (decoder).

Why: on the demo's photographs a linear probe of 50 principal components recovers the true latents that the
convolutional autoencoders, a few hundred steps in, do not (bench/results/FINDINGS.md, issue 22). The
reconstruction is still measured on every pixel: the decoder maps coefficients back through the basis, so the
loss, the traversals and every consumer see ordinary images; what lies outside the basis is a constant error
the networks cannot change. The basis lives in buffers, saved with the weights (no pickled objects).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from crl.core.nn.mlp import mlp
from crl.core.nn.posterior import PosteriorHead

COMPONENTS = 64  # principal components kept (fewer when the data has fewer subjects or values)
FIT_SUBJECTS = 2048  # training subjects the basis is fitted on (a sample: the basis needs no more)


class PCABasis(nn.Module):
    """`components` orthonormal directions of the flattened data, its mean and each direction's spread."""

    def __init__(self, shape: tuple[int, ...], components: int = COMPONENTS):
        super().__init__()
        size = math.prod(shape)
        k = min(components, size)
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("directions", torch.zeros(k, size))
        self.register_buffer("spread", torch.ones(k))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @property
    def components(self) -> int:
        """How many coefficients `coefficients` gives and `observation` reads."""
        return self.directions.shape[0]

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Fit on a batch of observations `(n, *shape)`: eigenvectors of the n x n Gram matrix (cheap when n is
        far below the number of values), in float64 for a basis that does not depend on summation order."""
        flat = x.flatten(1).to(torch.float64)
        mean = flat.mean(0)
        centred = flat - mean
        values, vectors = torch.linalg.eigh(centred @ centred.T)
        order = torch.argsort(values, descending=True)[: self.directions.shape[0]]
        values, vectors = values[order].clamp_min(0.0), vectors[:, order]
        usable = values > values.max().clamp_min(1e-30) * 1e-10
        directions = (centred.T @ vectors) / values.clamp_min(1e-30).sqrt()  # (size, k), orthonormal columns
        directions = directions.T * usable[:, None]  # directions with no variance are left out (all zero)
        # A fixed sign (largest loading positive) so that the same data always gives the same basis.
        flip = torch.sign(directions.gather(1, directions.abs().argmax(1, keepdim=True)).squeeze(1))
        directions = directions * torch.where(flip == 0, torch.ones_like(flip), flip)[:, None]
        spread = torch.where(usable, (values / max(len(flat) - 1, 1)).sqrt(), torch.ones_like(values))
        k = len(values)
        self.mean.copy_(mean.to(self.mean))
        self.directions.zero_()
        self.directions[:k] = directions.to(self.directions)
        self.spread.fill_(1.0)
        self.spread[:k] = spread.to(self.spread)
        self.fitted.fill_(True)

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, *shape)` -> whitened coefficients `(batch, k)`."""
        return ((x.flatten(1) - self.mean) @ self.directions.T) / self.spread

    def observation(self, coefficients: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        """Whitened coefficients `(batch, k)` -> observations `(batch, *shape)`."""
        flat = (coefficients * self.spread) @ self.directions + self.mean
        return flat.reshape(coefficients.shape[0], *shape)


class PCAEncoder(nn.Module):
    """(batch, *shape) -> posterior mean and log-variance, each (batch, out_dim), through the whitened coefficients."""

    Basis: type[nn.Module] = PCABasis  # what the coefficients come from (crl.core.nn.wavelet swaps it)

    def __init__(self, shape: tuple[int, ...], out_dim: int, depth: int = 2, width: int = 256):
        super().__init__()
        self.basis = self.Basis(shape)
        self.body = mlp(self.basis.components, width, max(depth - 1, 0), width)
        self.act = nn.LeakyReLU(0.2)
        self.head = PosteriorHead(width, out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.act(self.body(self.basis.coefficients(x))))


class PCADecoder(nn.Module):
    """(batch, in_dim) -> (batch, *shape): an MLP to whitened coefficients, then back through the basis."""

    Basis: type[nn.Module] = PCABasis

    def __init__(self, shape: tuple[int, ...], in_dim: int, depth: int = 2, width: int = 256):
        super().__init__()
        self.shape = tuple(shape)
        self.basis = self.Basis(shape)
        self.net = mlp(in_dim, self.basis.components, depth, width)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.basis.observation(self.net(latent), self.shape)


def _bases(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(modality, basis) of every network in `model.encoders` / `model.decoders` that has one: a module with
    `fit` and `fitted`, as PCABasis and crl.core.nn.wavelet's WaveletBasis."""
    found = []
    for group in ("encoders", "decoders"):
        for name, network in getattr(model, group, {}).items():
            basis = getattr(network, "basis", None)
            if hasattr(basis, "fit") and hasattr(basis, "fitted"):
                found.append((name, basis))
    return found


def unfitted_modalities(model: nn.Module) -> list[str]:
    """The modalities whose basis is still to be fitted (none for a model without the pca family)."""
    return list(dict.fromkeys(name for name, basis in _bases(model) if not bool(basis.fitted)))


def fit_bases(model: nn.Module, sample: dict[str, torch.Tensor]) -> None:
    """Fit every unfitted basis on its modality's `sample` (model layout, normalised); a fitted one (a resumed
    run, a refit) keeps its basis."""
    for name, basis in _bases(model):
        if not bool(basis.fitted) and name in sample:
            basis.fit(sample[name])
