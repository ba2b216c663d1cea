"""The variational head every encoder ends with: a Gaussian posterior's mean and bounded log-variance."""

from __future__ import annotations

import torch
from torch import nn

# Bounds keep exp(logvar) finite in low precision and stop the posterior from collapsing to a point
# (a point posterior would let the prior term be gamed, docs/method.md §4 item 5).
LOGVAR_MIN = -9.0
LOGVAR_MAX = 3.0


class PosteriorHead(nn.Module):
    """(batch, features) -> mean (batch, out_dim), log-variance (batch, out_dim) in [LOGVAR_MIN, LOGVAR_MAX]."""

    def __init__(self, features: int, out_dim: int):
        super().__init__()
        self.mean = nn.Linear(features, out_dim)
        self.logvar = nn.Linear(features, out_dim)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.logvar(h)
        logvar = LOGVAR_MIN + (LOGVAR_MAX - LOGVAR_MIN) * torch.sigmoid(raw - 1.0)
        return self.mean(h), logvar
