"""Canonical signs: every latent is turned so that the observed feature it moves most with rises with it.

z and -z are equally valid solutions, so a fresh run's signs are a coin toss per latent: a latent matched to
"resting heart rate" could fall as heart rate rises, and every arrow through it would read backwards. After
training, each latent is compared with its own modality's summary features (crl.data.features: table columns,
time-series channel means, image colour means) and reflected when its most correlated feature falls with it.
"""

from __future__ import annotations

import numpy as np

from crl.core.model import CRLModel
from crl.core.orientation import reflect_latents
from crl.data.cohort import Cohort, Normaliser
from crl.data.features import correlation, observed_features
from crl.engine.encode import by_modality, posterior_means


def canonical_signs(latents: dict[str, np.ndarray], cohort: Cohort) -> dict[str, np.ndarray]:
    """Modality -> one +1/-1 per latent: the sign of the latent's correlation with its most correlated feature.

    latents: modality -> `(n_subjects, k)` posterior means in the cohort's subject order. A latent with no
    feature to compare with (a modality without summary features) keeps its sign. Only the subjects that have a
    modality count for its latents (the others' are inferred, and they have no features to compare).
    """
    features, owners = observed_features(cohort)
    values = features.to_numpy(float)
    owner = np.asarray(owners)
    signs = {}
    for name, z in latents.items():
        have = cohort.presence(name)
        z = np.asarray(z)[have]
        own = values[have][:, owner == name] if len(owner) else np.zeros((len(z), 0))
        if own.shape[1] == 0 or len(z) < 2:
            signs[name] = np.ones(z.shape[1])
            continue
        corr = correlation(np.asarray(z, float), own)  # (k, features)
        strongest = corr[np.arange(z.shape[1]), np.abs(corr).argmax(1)]
        signs[name] = np.where(strongest < 0, -1.0, 1.0)
    return signs


def orient(
    model: CRLModel, cohort: Cohort, normaliser: Normaliser
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Reflect `model`'s latents to their canonical signs in place; returns the cohort's posterior means as the
    oriented model computes them, latents by modality and eta `(n, n_eta)` (encoded again when a sign changed,
    so files and weights agree to the bit)."""
    z, eta = posterior_means(model, cohort, normaliser)
    signs = canonical_signs(by_modality(model, z), cohort)
    flat = np.concatenate([signs[name] for name in model.names])
    if not (flat > 0).all():
        reflect_latents(model, flat)
        z, eta = posterior_means(model, cohort, normaliser)
    return by_modality(model, z), eta
