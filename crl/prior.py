"""The latent causal prior: per-latent conditional affine flows z_i -> eps_i given gated parents, exact log-det.

For every latent i, `eps_i = (z_i - mu_i(pa)) * exp(-s_i(pa))` where `pa = z * gate[:, i]` (the graph's column
i) and (mu_i, s_i) come from latent i's own small MLP. All latents' MLPs run as one batched einsum over weight
tensors with a leading `(n_latent, ...)` axis. Each map is invertible in z_i given its parents, with
`log|d eps_i / d z_i| = -s_i`, so on a DAG `log p(z) = sum_i [log N(eps_i; 0, 1) - s_i]` (METHOD.md section 3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Bounds the conditional log-scale so one latent cannot buy unbounded density by a near-zero noise scale.
LOG_SCALE_BOUND = 6.0


def standard_normal_log_prob(x: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x; 0, 1)."""
    return -0.5 * x.pow(2) - LOG_SQRT_2PI


class CausalFlowPrior(nn.Module):
    """Conditional affine flows for `n_latent` latents; conditioners have `layers` hidden layers of `hidden` units."""

    def __init__(self, n_latent: int, hidden: int = 32, layers: int = 2):
        super().__init__()
        self.n_latent = n_latent
        n, h = n_latent, hidden
        # w_in[t, s, :] carries source latent s into target t's conditioner.
        self.w_in = nn.Parameter(torch.randn(n, n, h) / math.sqrt(max(n - 1, 1)))
        self.b_in = nn.Parameter(torch.zeros(n, h))
        self.w_hidden = nn.Parameter(torch.randn(max(layers - 1, 0), n, h, h) / math.sqrt(h))
        self.b_hidden = nn.Parameter(torch.zeros(max(layers - 1, 0), n, h))
        # Near-zero output weights: the prior starts close to N(0, I) yet every parameter, the graph's
        # included, receives gradient from the first step.
        self.w_out = nn.Parameter(0.01 * torch.randn(n, h, 2))
        self.b_out = nn.Parameter(torch.zeros(n, 2))

    def conditioner(self, z: torch.Tensor, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shift and log-scale `(batch, n_latent)` of every latent given its gated parents.

        z: `(batch, n_latent)`; gates: `(batch, n_latent, n_latent)` or `(n_latent, n_latent)`, `[source, target]`.
        """
        if gates.dim() == 2:
            parents = z[:, None, :] * gates.t()[None]  # (batch, target, source)
        else:
            parents = torch.einsum("bs,bst->bts", z, gates)
        h = F.silu(torch.einsum("bts,tsh->bth", parents, self.w_in) + self.b_in)
        for k in range(self.w_hidden.shape[0]):
            h = F.silu(torch.einsum("bth,thk->btk", h, self.w_hidden[k]) + self.b_hidden[k])
        out = torch.einsum("bth,thk->btk", h, self.w_out) + self.b_out
        shift = out[..., 0]
        log_scale = LOG_SCALE_BOUND * torch.tanh(out[..., 1] / LOG_SCALE_BOUND)
        return shift, log_scale

    def forward(self, z: torch.Tensor, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise estimates eps `(batch, n_latent)` and per-latent log|d eps_i / d z_i| `(batch, n_latent)`."""
        shift, log_scale = self.conditioner(z, gates)
        eps = (z - shift) * torch.exp(-log_scale)
        return eps, -log_scale

    def log_prob(self, z: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """log p(z) `(batch,)` by change of variables (exact when the gated graph is acyclic)."""
        eps, log_det = self(z, gates)
        return (standard_normal_log_prob(eps) + log_det).sum(-1)

    def inverse(self, eps: torch.Tensor, gates: torch.Tensor, order: Sequence[int]) -> torch.Tensor:
        """Latents `(batch, n_latent)` from noises, solving one latent at a time in the causal `order`.

        Gates must be acyclic with `order` a topological order of them (parents are solved first).
        """
        z = torch.zeros_like(eps)
        for i in order:
            shift, log_scale = self.conditioner(z, gates)
            z = z.clone()
            z[:, i] = eps[:, i] * torch.exp(log_scale[:, i]) + shift[:, i]
        return z
