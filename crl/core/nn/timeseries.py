"""Time series (batch, channels, time): 1-D CNN or GRU encoders and a transposed 1-D convolution decoder."""

from __future__ import annotations

import math

import torch
from torch import nn

from crl.core.nn.posterior import PosteriorHead


def stages_for_length(length: int) -> int:
    """Stride-2 stages that bring the series to about 8–15 steps (capped at 6)."""
    return int(min(6, max(1, math.floor(math.log2(max(length, 2) / 8.0)))))


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class CNN1dEncoder(nn.Module):
    """(batch, C, T) -> posterior mean and log-variance: strided 1-D convolutions, then mean and max pooling."""

    def __init__(self, shape: tuple[int, ...], out_dim: int, depth: int = 0, width: int = 32):
        super().__init__()
        channels, length = shape
        stages = depth or stages_for_length(length)
        layers: list[nn.Module] = [
            nn.Conv1d(channels, width, 5, padding=2),
            nn.GroupNorm(_groups(width), width),
            nn.SiLU(),
        ]
        c = width
        for i in range(stages):
            c_out = min(width * 2 ** (i + 1), 256)
            layers += [
                nn.Conv1d(c, c_out, 5, stride=2, padding=2),
                nn.GroupNorm(_groups(c_out), c_out),
                nn.SiLU(),
            ]
            c = c_out
        self.body = nn.Sequential(*layers)
        self.head = PosteriorHead(2 * c, out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.head(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))


class GRUEncoder(nn.Module):
    """(batch, C, T) -> posterior mean and log-variance from a GRU's last hidden state (all layers)."""

    def __init__(self, shape: tuple[int, ...], out_dim: int, depth: int = 1, width: int = 64):
        super().__init__()
        channels, _ = shape
        self.gru = nn.GRU(channels, width, num_layers=max(depth, 1), batch_first=True)
        self.head = PosteriorHead(width * max(depth, 1), out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, h = self.gru(x.transpose(1, 2))
        return self.head(h.transpose(0, 1).flatten(1))


class Conv1dDecoder(nn.Module):
    """(batch, in_dim) -> (batch, C, T): a linear map to a coarse series, then transposed convolutions (x2 each)."""

    def __init__(self, shape: tuple[int, ...], in_dim: int, depth: int = 0, width: int = 32):
        super().__init__()
        self.shape = tuple(shape)
        channels, length = shape
        stages = depth or stages_for_length(length)
        self.t0 = math.ceil(length / 2**stages)
        self.c0 = min(width * 2**stages, 256)
        self.project = nn.Sequential(nn.Linear(in_dim, 256), nn.SiLU(), nn.Linear(256, self.c0 * self.t0))
        ups = []
        c = self.c0
        for i in range(stages):
            c_out = min(width * 2 ** (stages - i - 1), 256)
            ups += [
                nn.ConvTranspose1d(c, c_out, 4, stride=2, padding=1),
                nn.GroupNorm(_groups(c_out), c_out),
                nn.SiLU(),
            ]
            c = c_out
        self.ups = nn.Sequential(*ups)
        self.out = nn.Conv1d(c, channels, 5, padding=2)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.project(latent).reshape(latent.shape[0], self.c0, self.t0)
        return self.out(self.ups(h))[:, :, : self.shape[1]]
