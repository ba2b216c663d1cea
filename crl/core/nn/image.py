"""Images (28–128 px, 1 or 3 channels): a small residual CNN encoder and a transposed-convolution decoder."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from crl.core.nn.posterior import PosteriorHead


def stages_for(size: int) -> int:
    """Down-sampling stages that bring the smaller side to about 4–7 pixels (28 -> 3 stages, 128 -> 5)."""
    return max(1, int(math.floor(math.log2(max(size, 2) / 4.0))))


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection; stride 2 halves the resolution."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.norm1 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.skip = (
            nn.Conv2d(c_in, c_out, 1, stride=stride) if (stride != 1 or c_in != c_out) else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(h))
        return F.silu(h + self.skip(x))


class ResNetEncoder(nn.Module):
    """(batch, C, H, W) -> posterior mean and log-variance, each (batch, out_dim)."""

    def __init__(self, shape: tuple[int, ...], out_dim: int, depth: int = 0, width: int = 32):
        super().__init__()
        channels, height, width_px = shape
        stages = depth or stages_for(min(height, width_px))
        self.stem = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.GroupNorm(_groups(width), width), nn.SiLU()
        )
        blocks = []
        c = width
        for i in range(stages):
            c_out = min(width * 2 ** (i + 1), 256)
            blocks.append(ResidualBlock(c, c_out, stride=2))
            c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = PosteriorHead(c, out_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.blocks(self.stem(x))
        return self.head(h.mean(dim=(2, 3)))


class ConvDecoder(nn.Module):
    """(batch, in_dim) -> (batch, C, H, W): a linear map to a coarse grid, then transposed convolutions (x2 each)."""

    def __init__(self, shape: tuple[int, ...], in_dim: int, depth: int = 0, width: int = 32):
        super().__init__()
        self.shape = tuple(shape)
        channels, height, width_px = shape
        stages = depth or stages_for(min(height, width_px))
        self.h0 = math.ceil(height / 2**stages)
        self.w0 = math.ceil(width_px / 2**stages)
        self.c0 = min(width * 2**stages, 256)
        self.project = nn.Sequential(
            nn.Linear(in_dim, 256), nn.SiLU(), nn.Linear(256, self.c0 * self.h0 * self.w0)
        )
        ups = []
        c = self.c0
        for i in range(stages):
            c_out = min(width * 2 ** (stages - i - 1), 256)
            ups += [
                nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1),
                nn.GroupNorm(_groups(c_out), c_out),
                nn.SiLU(),
            ]
            c = c_out
        self.ups = nn.Sequential(*ups)
        self.out = nn.Conv2d(c, channels, 3, padding=1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.project(latent).reshape(latent.shape[0], self.c0, self.h0, self.w0)
        x = self.out(self.ups(h))
        return x[:, :, : self.shape[1], : self.shape[2]]
