"""Cohort arrays to network tensors: the observation layout each modality kind uses inside the model."""

from __future__ import annotations

import numpy as np
import torch


def model_shape(kind: str, shape: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """One observation's shape inside the model: tabular (F,), timeseries (C, T), image (C, H, W).

    `shape` is the cohort's: tabular (F,), timeseries (C, T), image (H, W) or (H, W, C).
    """
    shape = tuple(int(s) for s in shape)
    if kind == "image":
        if len(shape) == 2:
            return (1, shape[0], shape[1])
        return (shape[2], shape[0], shape[1])
    return shape


def to_model_layout(kind: str, x: torch.Tensor) -> torch.Tensor:
    """A batch in cohort layout to model layout; images (B, H, W[, C]) -> (B, C, H, W)."""
    if kind == "image":
        if x.dim() == 3:
            return x.unsqueeze(1)
        return x.permute(0, 3, 1, 2)
    return x


def normaliser_tensors(kind: str, centre: np.ndarray, scale: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre and scale shaped to broadcast against a model-layout batch (leading batch axis added)."""
    c = torch.from_numpy(np.asarray(centre, dtype=np.float32))
    s = torch.from_numpy(np.asarray(scale, dtype=np.float32))
    if kind == "image":
        # Cohort centre/scale broadcast over (H, W, C); the model wants (C, H, W).
        c = c.reshape(-1)[:1].reshape(1, 1, 1, 1) if c.numel() == 1 else to_model_layout(kind, c.unsqueeze(0))
        s = s.reshape(-1)[:1].reshape(1, 1, 1, 1) if s.numel() == 1 else to_model_layout(kind, s.unsqueeze(0))
        return c, s
    return c.unsqueeze(0), s.unsqueeze(0)
