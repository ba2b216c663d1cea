"""Cross-modal share: how much of each learned latent the other modalities' latents predict.

The method recovers a latent only through the footprints it leaves in other modalities (docs/method.md §2): a
latent that nothing outside its own modality predicts has no such footprint in the fitted model, so neither
the latent nor its links across modalities are backed by the data, however strong the graph draws them. Its
share is the held-out R² of the latent from every other modality's latents (ridge regression on the values
and their squares, 5 folds), computed from latents.csv alone, so a run trained once has it too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crl.errors import CrlError
from crl.graphs.names import split_latent_name

# Below this share a latent carries almost no cross-modal information (chosen, not tuned: bench/cross_modal.py).
WEAK_CROSS_MODAL = 0.1
FOLDS = 5
RIDGE = 1e-3  # per subject, on standardised features
MIN_SUBJECTS = 50


def _modality(latent: str) -> str | None:
    try:
        return split_latent_name(latent)[0]
    except CrlError:
        return None


def _standardise(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    scale = x.std(0)
    return x / np.where(scale > 0, scale, 1.0)


def _heldout_r2(y: np.ndarray, x: np.ndarray, rng: np.random.Generator) -> float:
    """R² of y `(n,)` predicted from x `(n, p)` by ridge regressions fitted on the other folds."""
    folds = np.array_split(rng.permutation(len(y)), FOLDS)
    predicted = np.empty_like(y)
    eye = np.eye(x.shape[1] + 1)
    eye[0, 0] = 0.0  # the intercept is not shrunk
    for held in folds:
        fit = np.setdiff1d(np.arange(len(y)), held)
        a = np.column_stack([np.ones(len(fit)), x[fit]])
        coef = np.linalg.solve(a.T @ a + RIDGE * len(fit) * eye, a.T @ y[fit])
        predicted[held] = np.column_stack([np.ones(len(held)), x[held]]) @ coef
    residual = ((y - predicted) ** 2).mean()
    return float(1.0 - residual / y.var()) if y.var() > 0 else float("nan")


def cross_modal_share(latents: pd.DataFrame, seed: int = 0) -> pd.Series:
    """Latent -> held-out R² from the other modalities' latents (at most 1; near 0 or below: none).

    latents: `(subjects, latents)` with columns `<modality>.z<k>` (latents.csv). NaN for every latent when the
    run has one modality or fewer than MIN_SUBJECTS complete subjects.
    """
    table = latents.apply(pd.to_numeric, errors="coerce").dropna()
    owners = {str(c): _modality(str(c)) for c in table.columns}
    share = pd.Series(np.nan, index=[str(c) for c in table.columns], name="cross_modal", dtype=float)
    if len(table) < MIN_SUBJECTS or len({m for m in owners.values() if m}) < 2:
        return share
    values = _standardise(table.to_numpy(float))
    rng = np.random.default_rng(seed)
    for i, latent in enumerate(share.index):
        others = [j for j, c in enumerate(share.index) if owners[c] != owners[latent]]
        x = values[:, others]
        share[latent] = _heldout_r2(values[:, i], np.column_stack([x, x**2]), rng)
    return share
