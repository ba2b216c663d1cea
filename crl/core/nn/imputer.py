"""The amortised posterior of a modality's latents for subjects who lack it (docs/method.md §3, missing modalities).

For a subject without modality m there is no x⁽ᵐ⁾ to encode, so q(z⁽ᵐ⁾ | the subject's other modalities) is a
small network of the other modalities' posterior means (zeroed where they are missing too) and of which ones
are present. It is trained by the ELBO's prior term alone: the causal flow prior scores the inferred z⁽ᵐ⁾ with
the subject's other latents, so the latents are inferred through the learned graph.
"""

from __future__ import annotations

import torch
from torch import nn

from crl.core.nn.mlp import mlp
from crl.core.nn.posterior import PosteriorHead

WIDTH = 64
DEPTH = 2


class Imputer(nn.Module):
    """(others `(batch, n_others)`, flags `(batch, n_flags)`) -> mean, logvar of the missing block `(batch, k)`."""

    def __init__(self, n_others: int, n_flags: int, out_dim: int, width: int = WIDTH, depth: int = DEPTH):
        super().__init__()
        self.n_others = n_others
        self.body = mlp(n_others + n_flags, width, max(depth - 1, 0), width)
        self.act = nn.LeakyReLU(0.2)
        self.head = PosteriorHead(width, out_dim)

    def forward(self, others: torch.Tensor, flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.act(self.body(torch.cat([others, flags], dim=1))))

    @torch.no_grad()
    def reflect(self, in_signs: torch.Tensor, out_signs: torch.Tensor) -> None:
        """Compute the same function of reflected latents: inputs `in_signs * others`, output `out_signs * mean`
        (crl.core.orientation turns a trained model's latents to their canonical signs)."""
        first = self.body[0]
        scale = torch.ones(first.in_features, dtype=first.weight.dtype, device=first.weight.device)
        scale[: self.n_others] = in_signs.to(scale)
        first.weight.mul_(scale)
        out = out_signs.to(self.head.mean.weight)
        self.head.mean.weight.mul_(out[:, None])
        self.head.mean.bias.mul_(out)
