"""Each modality's observed summary features: what a latent is compared with to say what it is.

Time series count as one feature per channel (its mean over time) and images as one per colour channel (mean
intensity), so every modality gives a handful of readable columns. Used for the hover text that tells a
clinician what a latent moves with (crl.analysis.drivers) and for orienting latents (crl.engine.orientation).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from crl.data.cohort import Cohort
from crl.data.image_store import chunks, release, row_chunk
from crl.errors import CrlError
from crl.graphs.names import split_latent_name


def observed_features(cohort: Cohort) -> tuple[pd.DataFrame, list[str]]:
    """(subjects, features) table indexed by subject_id, and each feature's modality (aligned with columns).

    Columns are readable labels: "labs: glucose", "sleep: spo2 (mean over time)", "fundus: mean red". A subject
    lacking a modality has NaN in its features (`correlation` then leaves the subject out of them).
    """
    blocks: list[np.ndarray] = []
    labels: list[str] = []
    owners: list[str] = []
    for name, modality in cohort.modalities.items():
        data = modality.data
        if modality.kind == "tabular":
            values = data.astype(float)
            suffix = ""
        elif modality.kind == "timeseries":  # (N, C, T)
            values = data.astype(float).mean(axis=2)
            suffix = " (mean over time)"
        elif modality.kind == "image":  # (N, H, W, C)
            values = image_means(data)
            suffix = ""
        else:
            continue
        if name in cohort.present:  # subjects lacking the modality have no features (their rows are fillers)
            values[~cohort.presence(name)] = np.nan
        features = list(modality.feature_names)
        if len(features) != values.shape[1]:
            features = [f"feature {k + 1}" for k in range(values.shape[1])]
        for feature in features:
            label = f"mean {feature}" if modality.kind == "image" else f"{feature}{suffix}"
            labels.append(f"{name}: {label}")
            owners.append(name)
        blocks.append(values)
    if not blocks:
        return pd.DataFrame(index=pd.Index([], name="subject_id")), []
    table = pd.DataFrame(
        np.concatenate(blocks, axis=1), index=pd.Index(cohort.subject_ids.astype(str), name="subject_id")
    )
    table.columns = labels
    return table, owners


def image_means(data: np.ndarray) -> np.ndarray:
    """`(N, C)` mean intensity per image and channel of `(N, H, W, C)` images, chunk by chunk: a memory-mapped
    modality is never read whole (crl.data.image_store)."""
    out = np.empty((len(data), data.shape[-1]), dtype=float)
    for part in chunks(len(data), row_chunk(data)):
        block = np.asarray(data[part])
        out[part] = block.reshape(len(block), -1, data.shape[-1]).mean(axis=1, dtype=float)
        release(data)
    return out


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation between columns of a `(n, p)` and b `(n, q)`: `(p, q)`; NaNs filled by the mean, constant columns 0."""
    a = np.where(np.isfinite(a), a, np.nan)
    b = np.where(np.isfinite(b), b, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: its mean is NaN, then 0
        a = np.nan_to_num(a - np.nanmean(a, axis=0))
        b = np.nan_to_num(b - np.nanmean(b, axis=0))
    na, nb = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (a.T @ b) / np.outer(na, nb)
    return np.nan_to_num(c)


def top_features(
    latents: pd.DataFrame,
    features: pd.DataFrame,
    feature_modality: list[str],
    k: int = 3,
    own_modality: bool = True,
) -> dict[str, list[tuple[str, float]]]:
    """Latent -> its k most correlated features as (label, signed correlation), strongest |r| first.

    latents `(n, d)` and features `(n, f)` are indexed by subject ID and joined on it. With `own_modality`,
    a latent named `<modality>.z<k>` is compared only with that modality's features (all features when the
    cohort has no such modality). Fewer than 10 shared subjects raise CrlError.
    """
    common = latents.index.astype(str).intersection(features.index.astype(str))
    if len(common) < 10:
        raise CrlError(
            f"only {len(common)} subjects are shared by the run's latents and the cohort; "
            "open the cohort this run was trained on"
        )
    lat = latents.set_axis(latents.index.astype(str)).loc[common].to_numpy(float)
    obs = features.set_axis(features.index.astype(str)).loc[common].to_numpy(float)
    corr = correlation(lat, obs)
    owners = np.asarray(feature_modality)
    labels = list(features.columns)
    out: dict[str, list[tuple[str, float]]] = {}
    for i, latent in enumerate(latents.columns):
        allowed = np.ones(len(labels), dtype=bool)
        if own_modality:
            try:
                modality = split_latent_name(str(latent))[0]
            except CrlError:
                modality = None
            if modality is not None and (owners == modality).any():
                allowed = owners == modality
        candidates = np.nonzero(allowed)[0]
        order = candidates[np.argsort(-np.abs(corr[i, candidates]), kind="stable")][:k]
        out[str(latent)] = [(labels[j], float(corr[i, j])) for j in order if np.isfinite(corr[i, j])]
    return out
