"""Which observed features move most with each learned latent: hover text that tells a clinician what a latent is.

Association, not effect: the strongest |Pearson correlation| between a latent (latents.csv) and each observed
feature, taken from the latent's own modality, since that is the data its decoder draws. The features are the
modality summaries of crl.data.features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crl.data.features import correlation, observed_features  # noqa: F401 - callers import it here
from crl.errors import CrlError
from crl.graphs.names import split_latent_name


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


def describe_drivers(drivers: list[tuple[str, float]], min_abs: float = 0.2) -> str:
    """Hover text: one line per feature with |r| >= min_abs, e.g. "sleep: spo2 (mean over time) (r = −0.82)".

    Weaker associations are left out rather than listed as if they meant something; when none is left the
    text says so (images are summarised only by mean colour, which rarely tracks a latent).
    """
    if not drivers:
        return ""
    strong = [(label, r) for label, r in drivers if abs(r) >= min_abs]
    if not strong:
        return f"No summary feature of its modality moves with it (every |r| < {min_abs:g})."
    lines = ["Moves most with:"]
    lines += [f"{label} (r = {f'{r:+.2f}'.replace('-', '−')})" for label, r in strong]
    return "\n".join(lines)
