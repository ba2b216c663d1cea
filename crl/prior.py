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
        # w_in[t, s, :] carries source latent s into target t's conditioner; w_gate[t, s, :] tells it whether
        # the edge s -> t is open, so an absent parent is not mistaken for a parent whose value is 0.
        self.w_in = nn.Parameter(torch.randn(n, n, h) / math.sqrt(max(n - 1, 1)))
        self.w_gate = nn.Parameter(torch.randn(n, n, h) / math.sqrt(max(n - 1, 1)))
        self.b_in = nn.Parameter(torch.zeros(n, h))
        self.w_hidden = nn.Parameter(torch.randn(max(layers - 1, 0), n, h, h) / math.sqrt(h))
        self.b_hidden = nn.Parameter(torch.zeros(max(layers - 1, 0), n, h))
        # Near-zero output weights: the prior starts close to N(0, I) yet every parameter, the graph's
        # included, receives gradient from the first step.
        self.w_out = nn.Parameter(0.01 * torch.randn(n, h, 2))
        self.b_out = nn.Parameter(torch.zeros(n, 2))

    def _head(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First-layer pre-activations `(..., target, hidden)` -> shift and log-scale `(..., target)`."""
        h = F.silu(pre)
        for k in range(self.w_hidden.shape[0]):
            h = F.silu(torch.einsum("...th,thk->...tk", h, self.w_hidden[k]) + self.b_hidden[k])
        out = torch.einsum("...th,thk->...tk", h, self.w_out) + self.b_out
        return out[..., 0], LOG_SCALE_BOUND * torch.tanh(out[..., 1] / LOG_SCALE_BOUND)

    def conditioner(self, z: torch.Tensor, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shift and log-scale `(batch, n_latent)` of every latent given its gated parents.

        z: `(batch, n_latent)`; gates: `(batch, n_latent, n_latent)` or `(n_latent, n_latent)`, `[source, target]`.
        """
        if gates.dim() == 2:
            parents = z[:, None, :] * gates.t()[None]  # (batch, target, source)
            open_edges = torch.einsum("st,tsh->th", gates, self.w_gate)[None]
        else:
            parents = torch.einsum("bs,bst->bts", z, gates)
            open_edges = torch.einsum("bst,tsh->bth", gates, self.w_gate)
        return self._head(torch.einsum("bts,tsh->bth", parents, self.w_in) + open_edges + self.b_in)

    def forward(self, z: torch.Tensor, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise estimates eps `(batch, n_latent)` and per-latent log|d eps_i / d z_i| `(batch, n_latent)`."""
        shift, log_scale = self.conditioner(z, gates)
        eps = (z - shift) * torch.exp(-log_scale)
        return eps, -log_scale

    def log_prob(self, z: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """log p(z) `(batch,)` by change of variables (exact when the gated graph is acyclic)."""
        eps, log_det = self(z, gates)
        return (standard_normal_log_prob(eps) + log_det).sum(-1)

    def edge_effects(self, z: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """`(n_latent, n_latent)`: for each edge s -> t, the mean change in latent t's negative log-likelihood
        when the edge is switched on rather than off, the rest of each subject's sampled graph kept.

        The expected NLL under independent edges is linear in each edge's probability, so these differences
        are its exact gradient with respect to the strengths (as in ENCO): the graph learns from what each
        edge does to the likelihood, not from a local derivative at a 0/1 gate. z: `(batch, n)`; gates:
        `(batch, n, n)` hard 0/1 samples.
        """
        gates_t = gates.transpose(1, 2)  # (batch, target, source)
        # contribution[b, t, s, :] = what source s adds to target t's first layer when its edge is open.
        contribution = z[:, None, :, None] * self.w_in[None] + self.w_gate[None]
        pre = torch.einsum("bts,btsh->bth", gates_t, contribution) + self.b_in
        pre_on = pre[:, :, None, :] + ((1.0 - gates_t)[..., None] * contribution)
        pre_off = pre[:, :, None, :] - (gates_t[..., None] * contribution)
        target = z[:, :, None]
        nll = []
        for variant in (pre_on, pre_off):
            shift, log_scale = self._head(variant.transpose(1, 2))  # (batch, source, target)
            shift, log_scale = shift.transpose(1, 2), log_scale.transpose(1, 2)  # (batch, target, source)
            eps = (target - shift) * torch.exp(-log_scale)
            nll.append(-(standard_normal_log_prob(eps) - log_scale))
        return (nll[0] - nll[1]).mean(0).t()  # (source, target)

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
