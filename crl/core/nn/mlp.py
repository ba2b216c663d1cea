"""Multilayer perceptrons: the encoder/decoder for tabular data (and any modality, flattened)."""

from __future__ import annotations

import math

import torch
from torch import nn

from crl.core.nn.posterior import PosteriorHead


def mlp(in_dim: int, out_dim: int, depth: int, width: int) -> nn.Sequential:
    """`depth` hidden layers of `width` units with LeakyReLU (the paper's mixing family) and LayerNorm."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.LayerNorm(width), nn.LeakyReLU(0.2)]
        d = width
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """(batch, *shape) -> posterior mean and log-variance, each (batch, out_dim)."""

    def __init__(self, shape: tuple[int, ...], out_dim: int, depth: int = 3, width: int = 128):
        super().__init__()
        self.body = mlp(math.prod(shape), width, max(depth - 1, 0), width)
        self.act = nn.LeakyReLU(0.2)
        self.head = PosteriorHead(width, out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.act(self.body(x.flatten(1))))


class MLPDecoder(nn.Module):
    """(batch, in_dim) -> (batch, *shape) in normalised units."""

    def __init__(self, shape: tuple[int, ...], in_dim: int, depth: int = 3, width: int = 128):
        super().__init__()
        self.shape = tuple(shape)
        self.net = mlp(in_dim, math.prod(shape), depth, width)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.net(latent).reshape(latent.shape[0], *self.shape)
