"""Subjects who lack a modality: the two policies, the filler rows they get, and a cohort narrowed to a policy.

"infer" (the default for training, `train.missing_modalities`): every subject with at least one modality is
trained on; for a modality it lacks, its reconstruction term is left out and its latents are inferred from its
other modalities through the learned graph (crl.core.model, docs/method.md). "drop": only subjects present in
every modality, as crl did before. A subject with no usable modality at all is left out under both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crl.config.sections import MISSING_MODALITIES
from crl.data.cohort import Cohort

MISSING_POLICIES = MISSING_MODALITIES
IMAGE_FILLER = 128  # mid-grey: about 0 after images are normalised


def filled(data: np.ndarray, rows: np.ndarray, present: np.ndarray) -> np.ndarray:
    """`data[rows]` with the rows of subjects lacking the modality (`~present`; their `rows` entry is anything)
    replaced by a neutral filler: the mean observation of the present rows (about 0 once normalised),
    mid-grey for images.

    The model never reads a filler (the encoder's output for it is replaced and its reconstruction is left out);
    the filler only keeps every array finite, so no NaN can reach a gradient.
    """
    rows = np.where(present, rows, 0)
    out = data[rows]
    if present.all():
        return out
    if out.dtype.kind in "iu":
        out[~present] = IMAGE_FILLER
        return out
    have = out[present]
    values = np.where(np.isfinite(have), have, np.nan)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(values, axis=0) if len(have) else np.zeros(out.shape[1:], out.dtype)
    out[~present] = np.nan_to_num(mean).astype(out.dtype)
    return out


def training_cohort(cohort: Cohort, policy: str, method: str = "ours") -> Cohort:
    """The subjects a training with this policy uses: all of them under "infer", the complete ones under "drop".
    The β-VAE baseline encodes all modalities jointly, so it cannot leave one out: it always drops."""
    if policy not in MISSING_POLICIES:
        from crl.errors import ConfigError

        raise ConfigError(
            f"train.missing_modalities '{policy}' is unknown; choose one of {', '.join(MISSING_POLICIES)}"
        )
    return cohort.drop_incomplete() if policy == "drop" or method == "beta-vae" else cohort


def policy_of_schema(schema: dict[str, dict[str, Any]]) -> str:
    """The policy a trained model's subjects follow: "infer" when it was trained on subjects lacking a modality
    (its schema marks those modalities), "drop" otherwise (the same subjects as "infer" for a complete cohort)."""
    return "infer" if any(spec.get("incomplete") for spec in schema.values()) else "drop"
