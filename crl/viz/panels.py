"""Helpers the traversal and intervention figures share: panel grids and spacing, feature names, ranking the
features that change most."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go


def grid(n: int, max_columns: int) -> tuple[int, int]:
    """(rows, columns) of a grid of `n` panels at most `max_columns` wide."""
    columns = max(1, min(n, max_columns))
    return math.ceil(n / columns), columns


def spacing(count: int, wanted: float) -> float:
    """Subplot spacing plotly accepts for `count` rows/columns (it must stay below 1 / (count - 1))."""
    return 0.0 if count <= 1 else min(wanted, 0.8 / (count - 1))


def panel_names(feature_names: Mapping[str, Sequence[str]], modality: str, n: int, word: str) -> list[str]:
    """The modality's feature (or channel) names, or `<word> 1`, `<word> 2`, ... when they do not fit."""
    given = [str(x) for x in feature_names.get(modality, [])]
    return given if len(given) == n else [f"{word} {k + 1}" for k in range(n)]


def time_values(
    time_axes: Mapping[str, tuple[Sequence[float], str]] | None, modality: str, n: int
) -> tuple[np.ndarray, str]:
    """x values and axis title of a modality's `n` time points: the given axis if it fits, else sample numbers."""
    given = (time_axes or {}).get(modality)
    if given is not None and len(given[0]) == n:
        return np.asarray(given[0], dtype=float), str(given[1])
    return np.arange(n), "Time (samples)"


def small_titles(fig: go.Figure, size: int = 13) -> None:
    """Subplot titles in a smaller font than the figure title."""
    fig.update_annotations(font_size=size)


def ranked(change: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the `limit` largest changes, largest first (ties keep the original order)."""
    order = np.argsort(-np.nan_to_num(change, nan=-np.inf), kind="stable")
    return order[:limit]


def scaled_change(change: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """`change` in units of the per-feature `scale` when it has one entry per feature; unchanged otherwise."""
    if scale is None:
        return change
    s = np.asarray(scale, dtype=float).reshape(change.shape) if np.size(scale) == change.size else None
    return change if s is None else change / np.where(np.abs(s) > 0, np.abs(s), 1.0)


def unknown_kind(modality: str, kind: str | None) -> ValueError:
    """The error for a modality kind no figure draws."""
    return ValueError(f"modality {modality!r} has kind {kind!r}; expected tabular, timeseries or image")
