"""The learnable latent graph: one gated edge per ordered pair of latents, masks, sparsity and acyclicity.

Convention (shared with crl/metrics.py and graph.csv): `A[i, j]` is the strength of the edge latent i -> latent j,
source in the row, target in the column. A strength is the probability that the edge's gate is open.

The likelihood reaches every free edge (docs/method.md §4): during training each edge's gate is a
relaxed-Bernoulli sample open with the edge's strength, and the prior's conditioner sees parent j of latent i as
`z_j * gate[j, i]`. Because a gate is random, the conditioner cannot undo a small strength by scaling its weights,
so the sparsity penalty (on strengths) cannot be gamed either.

As in ENCO (Lippe et al. 2022) a strength is existence x orientation, with one existence and one orientation
per pair: the two directions compete through the orientation instead of fading together under the acyclicity
penalty, a sampled graph never holds a 2-cycle, and the penalty removes longer cycles.

orientation="order" (the default) derives every orientation from one score per latent: `P(i -> j) =
existence * sigmoid(s_i - s_j)`, and each subject's sample first draws a causal order (the scores plus Gumbel
noise, whose pairwise differences are exactly logistic) and opens only edges that go forward in it. Every
sampled graph is then acyclic, so the prior's log-likelihood is a true density that cycles cannot inflate;
with pairwise orientations (the earlier layout, kept so older runs load) the penalty alone had to fight
cycles that the likelihood rewards, and lost on four modalities (bench/results/FINDINGS.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def acyclicity_penalty(strengths: torch.Tensor) -> torch.Tensor:
    """tr((I + A / d)^d) - d for a non-negative `(d, d)` matrix: exactly zero on DAGs, positive on any cycle.

    The polynomial form of the NOTEARS trace-exponential (Yu et al. 2019, DAG-GNN): every closed walk of
    length k <= d adds a positive multiple of the product of its strengths, so a 2-cycle i <-> j costs about
    A_ij * A_ji / d. It needs only log2(d) small matrix products. (NOTEARS uses A * A; on strengths in [0, 1]
    the unsquared form keeps a useful gradient at mid-range strengths, as in DCDI.)
    """
    d = strengths.shape[-1]
    m = torch.eye(d, dtype=strengths.dtype, device=strengths.device) + strengths / d
    power, result, k = m, None, d
    while k:
        if k & 1:
            result = power if result is None else result @ power
        k >>= 1
        if k:
            power = power @ power
    return result.diagonal(dim1=-2, dim2=-1).sum(-1) - d


class LatentGraph(nn.Module):
    """Edge logits for every ordered pair of latents, with fixed masks from the configuration.

    latent_names: `<modality>.z<k>` in model order; modality_of: each latent's modality index.
    tiers: each modality's tier (earlier tiers cause later ones) or None to learn the order.
    required / forbidden: (source, target) name pairs. enabled=False switches every free edge off (no-graph).
    """

    def __init__(
        self,
        latent_names: Sequence[str],
        modality_of: Sequence[int],
        tiers: Sequence[int] | None = None,
        required: Sequence[tuple[str, str]] = (),
        forbidden: Sequence[tuple[str, str]] = (),
        initial_strength: float = 0.5,
        temperature: float = 0.5,
        enabled: bool = True,
        straight_through: bool = True,
        orientation: str = "order",
    ):
        super().__init__()
        self.latent_names = list(latent_names)
        self.temperature = float(temperature)
        n = len(self.latent_names)
        index = {name: i for i, name in enumerate(self.latent_names)}
        modality = torch.as_tensor(list(modality_of))
        cross = (modality[:, None] != modality[None, :]).float()
        allowed = 1.0 - torch.eye(n)
        if tiers is not None:
            tier = torch.as_tensor([tiers[m] for m in modality_of])
            allowed = allowed * (tier[:, None] <= tier[None, :]).float()  # source tier earlier or the same
        required_mask = torch.zeros(n, n)
        for source, target in required:
            required_mask[index[source], index[target]] = 1.0
        for source, target in forbidden:
            allowed[index[source], index[target]] = 0.0
        free = allowed * (1.0 - required_mask)
        if not enabled:
            free = torch.zeros(n, n)
            required_mask = torch.zeros(n, n)
        self.register_buffer("free_mask", free)
        self.register_buffer("required_mask", required_mask)
        self.register_buffer("cross_mask", cross)
        # Pairs free in both directions share one existence and one orientation; elsewhere an edge has its own
        # existence and no orientation.
        self.register_buffer("two_way", free * free.t())
        self.straight_through = straight_through
        logit = math.log(initial_strength / (1.0 - initial_strength))
        self.existence = nn.Parameter(torch.full((n, n), logit))
        self.by_order = orientation == "order"
        if self.by_order:
            # A tier's offset keeps every sampled order consistent with the given tiers (sigmoid(20) ~ 1).
            rank = torch.zeros(n) if tiers is None else -20.0 * tier.float()
            self.register_buffer("order_offset", rank)
            self.order = nn.Parameter(torch.zeros(n))
        else:
            self.orientation = nn.Parameter(torch.zeros(n, n))

    @property
    def n_latent(self) -> int:
        return len(self.latent_names)

    def _logits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(existence logits, orientation logits), each `(n, n)`: symmetric and antisymmetric on two-way pairs."""
        two_way = self.two_way
        existence = two_way * 0.5 * (self.existence + self.existence.t()) + (1.0 - two_way) * self.existence
        if self.by_order:
            key = self.order + self.order_offset
            return existence, key[:, None] - key[None, :]
        orientation = two_way * (self.orientation - self.orientation.t())
        return existence, orientation

    def _oriented(self) -> torch.Tensor:
        """Which free pairs the orientation factor applies to: all of them when orders are sampled, else the
        two-way pairs."""
        return self.free_mask if self.by_order else self.two_way

    def probabilities(self) -> torch.Tensor:
        """`(n_latent, n_latent)` edge strengths in [0, 1]; required edges 1, impossible edges 0.

        Two-way pair: `A[i, j] = sigmoid(e_ij) * sigmoid(t_ij)` with `e` symmetric and `t` antisymmetric, so
        `A[i, j] + A[j, i] = sigmoid(e_ij)` is the probability that the pair is linked at all.
        """
        existence, orientation = self._logits()
        oriented = self._oriented()
        orient = oriented * torch.sigmoid(orientation) + (1.0 - oriented)
        return self.free_mask * torch.sigmoid(existence) * orient + self.required_mask

    def sample_gates(
        self, batch: int, generator: torch.Generator | None = None, mode: str | None = None
    ) -> torch.Tensor:
        """`(batch, n_latent, n_latent)` gates, one graph per subject, each edge open with its strength.

        A two-way pair draws one existence and one direction, so a sample never holds both i -> j and j -> i.
        mode "hard": exact 0/1 gates without gradient (training uses the prior's edge effects for the graph's
        gradient); "straight_through": 0/1 forward, relaxed-Bernoulli gradient backward; "relaxed": relaxed
        samples. Default: "straight_through" if the graph was built with straight_through=True, else "relaxed".
        """
        mode = mode or ("straight_through" if self.straight_through else "relaxed")
        n = self.n_latent
        device = self.existence.device
        existence, orientation = self._logits()
        upper = torch.triu(torch.ones(n, n, device=device), diagonal=1)
        u = torch.rand((2, batch, n, n), generator=generator, device=device).clamp(1e-6, 1.0 - 1e-6)
        noise = torch.log(u) - torch.log1p(-u)
        # One existence draw per two-way pair (symmetric noise), one direction draw (antisymmetric noise).
        sym = noise[0] * upper + (noise[0] * upper).transpose(1, 2)
        exist_noise = self.two_way * sym + (1.0 - self.two_way) * noise[0]
        if self.by_order:
            # Per-subject Gumbel keys: the differences are logistic, and one key per latent makes a total order.
            gumbel = -torch.log(-torch.log(u[1, :, 0, :]))
            orient_noise = gumbel[:, :, None] - gumbel[:, None, :]
        else:
            orient_noise = (noise[1] * upper) - (noise[1] * upper).transpose(1, 2)
        exist = torch.sigmoid((existence + exist_noise) / self.temperature)
        direction = torch.sigmoid((orientation + orient_noise) / self.temperature)
        if mode == "hard":
            with torch.no_grad():
                exist = (existence + exist_noise > 0).float()
                direction = (orientation + orient_noise > 0).float()
        elif mode == "straight_through":
            exist = exist + ((existence + exist_noise > 0).float() - exist).detach()
            direction = direction + ((orientation + orient_noise > 0).float() - direction).detach()
        oriented = self._oriented()
        gates = exist * (oriented * direction + (1.0 - oriented))
        return self.free_mask * gates + self.required_mask

    def warmup_gates(self) -> torch.Tensor:
        """`(n_latent, n_latent)` gates for the warm-up: every allowed cross-modal edge open, within-modality shut.

        With all cross-modal parents in view, the prior rewards each latent for being predictable from the other
        modalities, which pulls shared information into the latents and leaves the private part to eta (block
        identifiability, docs/method.md §2) before the graph itself is learnt.
        """
        return self.free_mask * self.cross_mask + self.required_mask

    def sparsity(self) -> torch.Tensor:
        """L1 norm of the free cross-modal strengths (within-modality edges are not penalised, docs/method.md §2)."""
        return (self.cross_mask * (self.probabilities() - self.required_mask)).sum()

    def acyclicity(self) -> torch.Tensor:
        """The acyclicity penalty of the current strengths (zero once they form a DAG)."""
        return acyclicity_penalty(self.probabilities())

    def strengths(self) -> np.ndarray:
        """`(n_latent, n_latent)` numpy strengths; `[i, j]` is the edge latent i -> latent j."""
        with torch.no_grad():
            return self.probabilities().detach().cpu().double().numpy()

    def edges(self, threshold: float = 0.5) -> list[tuple[str, str, float]]:
        """(source, target, strength) for every edge at or above `threshold`."""
        a = self.strengths()
        return [
            (self.latent_names[i], self.latent_names[j], float(a[i, j]))
            for i in range(self.n_latent)
            for j in range(self.n_latent)
            if i != j and a[i, j] >= threshold
        ]
