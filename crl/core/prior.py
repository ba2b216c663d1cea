"""The latent causal prior: per-latent conditional flows z_i -> eps_i given gated parents, exact log-det.

For every latent i, `u_i = (z_i - mu_i(pa)) * exp(-s_i(pa))` where `pa = z * gate[:, i]` (the graph's column
i) and (mu_i, s_i) come from latent i's own small MLP. The affine flow stops there (`eps_i = u_i`: a Gaussian
additive-noise model); the spline flow follows with a monotone rational-quadratic spline whose knots the same MLP
gives (`eps_i = r_i(u_i; pa)`, Durkan et al. 2019, via zuko), so noises need not be Gaussian. All latents' MLPs
run as one batched einsum over weight tensors with a leading `(n_latent, ...)` axis. Each map is invertible in
z_i given its parents, with `log|d eps_i / d z_i| = -s_i + log r_i'(u_i)`, so on a DAG
`log p(z) = sum_i [log N(eps_i; 0, 1) + log|d eps_i / d z_i|]` (docs/method.md §3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from crl.config import FLOWS
from crl.errors import ConfigError

if TYPE_CHECKING:
    from zuko.transforms import MonotonicRQSTransform

# The spline acts on [-SPLINE_BOUND, SPLINE_BOUND] of the standardised u_i and is the identity outside it.
SPLINE_BOUND = 5.0
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Bounds the conditional log-scale so one latent cannot buy unbounded density by a near-zero noise scale.
LOG_SCALE_BOUND = 6.0


def standard_normal_log_prob(x: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x; 0, 1)."""
    return -0.5 * x.pow(2) - LOG_SQRT_2PI


def _require_zuko() -> None:
    """ConfigError when zuko, which only the spline flow needs, is missing (a GPU box that cannot install it)."""
    try:
        import zuko  # noqa: F401
    except ImportError as error:
        raise ConfigError(
            "the spline flow (prior.flow=spline) needs the zuko package, which this Python lacks: "
            'pip install "crl[spline]" (or zuko), or train with the affine flow (--set prior.flow=affine)'
        ) from error


class CausalFlowPrior(nn.Module):
    """Conditional flows for `n_latent` latents; conditioners have `layers` hidden layers of `hidden` units.

    flow: "affine" or "spline" (with `bins` spline segments).
    """

    def __init__(self, n_latent: int, hidden: int = 32, layers: int = 2, flow: str = "affine", bins: int = 8):
        super().__init__()
        if flow not in FLOWS:
            raise ValueError(f"unknown flow '{flow}'; choose one of {', '.join(FLOWS)}")
        if flow == "spline":
            _require_zuko()
        self.n_latent = n_latent
        self.flow = flow
        self.bins = bins
        n, h = n_latent, hidden
        # w_in[t, s, :] carries source latent s into target t's conditioner; w_gate[t, s, :] tells it whether
        # the edge s -> t is open, so an absent parent is not mistaken for a parent whose value is 0.
        self.w_in = nn.Parameter(torch.randn(n, n, h) / math.sqrt(max(n - 1, 1)))
        self.w_gate = nn.Parameter(torch.randn(n, n, h) / math.sqrt(max(n - 1, 1)))
        self.b_in = nn.Parameter(torch.zeros(n, h))
        self.w_hidden = nn.Parameter(torch.randn(max(layers - 1, 0), n, h, h) / math.sqrt(h))
        self.b_hidden = nn.Parameter(torch.zeros(max(layers - 1, 0), n, h))
        # Outputs per latent: shift, log-scale and, for the spline, 3 * bins - 1 knot parameters. Near-zero
        # output weights: the prior starts close to N(0, I) (a spline with zero parameters is the identity) yet
        # every parameter, the graph's included, receives gradient from the first step.
        n_out = 2 + (3 * bins - 1 if flow == "spline" else 0)
        self.w_out = nn.Parameter(0.01 * torch.randn(n, h, n_out))
        self.b_out = nn.Parameter(torch.zeros(n, n_out))

    def _head(self, pre: torch.Tensor) -> torch.Tensor:
        """First-layer pre-activations `(..., target, hidden)` -> each target's flow parameters `(..., target, out)`."""
        h = F.silu(pre)
        for k in range(self.w_hidden.shape[0]):
            h = F.silu(torch.einsum("...th,thk->...tk", h, self.w_hidden[k]) + self.b_hidden[k])
        return torch.einsum("...th,thk->...tk", h, self.w_out) + self.b_out

    def _spline(self, params: torch.Tensor) -> MonotonicRQSTransform:
        """Each latent's monotone spline from its knot parameters (widths, heights, inner slopes)."""
        from zuko.transforms import MonotonicRQSTransform

        k = self.bins
        knots = params[..., 2:]
        return MonotonicRQSTransform(
            knots[..., :k], knots[..., k : 2 * k], knots[..., 2 * k :], bound=SPLINE_BOUND
        )

    @staticmethod
    def _shift_and_log_scale(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The affine part of each latent's flow, its log-scale bounded by LOG_SCALE_BOUND."""
        return params[..., 0], LOG_SCALE_BOUND * torch.tanh(params[..., 1] / LOG_SCALE_BOUND)

    def _to_noise(self, z: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each latent's noise and log|d eps / d z| (both shaped like z) from its flow parameters."""
        shift, log_scale = self._shift_and_log_scale(params)
        u = (z - shift) * torch.exp(-log_scale)
        if self.flow == "affine":
            return u, -log_scale
        eps, log_slope = self._spline(params).call_and_ladj(u)
        return eps, log_slope - log_scale

    def _from_noise(self, eps: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """The inverse of `_to_noise`: each latent from its noise and flow parameters."""
        u = eps if self.flow == "affine" else self._spline(params).inv(eps)
        shift, log_scale = self._shift_and_log_scale(params)
        return u * torch.exp(log_scale) + shift

    def conditioner(self, z: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """Flow parameters `(batch, n_latent, out)` of every latent given its gated parents.

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
        return self._to_noise(z, self.conditioner(z, gates))

    def solve(self, z: torch.Tensor, eps: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        """Every latent `(batch, n_latent)` from its noise given the parents' values in `z` (one causal step)."""
        return self._from_noise(eps, self.conditioner(z, gates))

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
        target = z[:, None, :]  # (batch, 1, target), against parameters (batch, source, target, out)
        nll = []
        for variant in (pre_on, pre_off):
            eps, log_det = self._to_noise(target, self._head(variant.transpose(1, 2)))
            nll.append(-(standard_normal_log_prob(eps) + log_det))  # (batch, source, target)
        return (nll[0] - nll[1]).mean(0)  # (source, target)

    @torch.no_grad()
    def reflect(self, signs: torch.Tensor) -> None:
        """Re-express the prior for the latents `signs * z` (signs of +-1), so p_new(signs * z) = p(z) exactly.

        A reflected latent enters its children's conditioners negated (w_in), its own shift changes sign and
        its spline is mirrored (knot widths, heights and slopes in reverse order), which maps eps to -eps:
        the standard normal does not notice.
        """
        flip = torch.as_tensor(signs, device=self.w_in.device) < 0
        if not bool(flip.any()):
            return
        self.w_in[:, flip, :] *= -1
        self.w_out[flip, :, 0] *= -1
        self.b_out[flip, 0] *= -1
        if self.flow == "spline":
            k = self.bins
            for part in (slice(2, 2 + k), slice(2 + k, 2 + 2 * k), slice(2 + 2 * k, 2 + 3 * k - 1)):
                self.w_out[flip, :, part] = self.w_out[flip, :, part].flip(-1)
                self.b_out[flip, part] = self.b_out[flip, part].flip(-1)

    def inverse(self, eps: torch.Tensor, gates: torch.Tensor, order: Sequence[int]) -> torch.Tensor:
        """Latents `(batch, n_latent)` from noises, solving one latent at a time in the causal `order`.

        Gates must be acyclic with `order` a topological order of them (parents are solved first).
        """
        z = torch.zeros_like(eps)
        for i in order:
            solved = self.solve(z, eps, gates)
            z = z.clone()
            z[:, i] = solved[:, i]
        return z
