"""A trained model's posterior means for a whole cohort, and the latents table a run folder keeps."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crl.core.model import CRLModel
from crl.data.cohort import Cohort, Normaliser
from crl.engine.tensors import CohortTensors
from crl.errors import RunError


def posterior_means(
    model: CRLModel,
    cohort: Cohort,
    normaliser: Normaliser,
    batch_size: int = 2048,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means of every subject: z `(n_subjects, n_latent)` and eta `(n_subjects, n_eta)`, float32."""
    check_inferable(model, cohort)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    tensors = CohortTensors(cohort, normaliser, device, model.names)
    was_training = model.training
    model.eval()
    z_parts, eta_parts = [], []
    batch_size = tensors.pass_chunk(batch_size)
    with torch.no_grad():
        for start in range(0, len(cohort), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(cohort)), device="cpu")
            z_mean, _, eta_mean, _ = model.posterior(tensors.batch(idx))
            z_parts.append(z_mean.float().cpu().numpy())
            eta_parts.append(eta_mean.float().cpu().numpy())
    model.train(was_training)
    z = np.concatenate(z_parts, 0) if z_parts else np.zeros((0, model.n_latent), np.float32)
    eta = np.concatenate(eta_parts, 0) if eta_parts else np.zeros((0, model.n_eta), np.float32)
    return z, eta


def check_inferable(model: CRLModel, cohort: Cohort) -> None:
    """RunError when some subject lacks a modality whose latents the model cannot infer: it was trained only on
    subjects who all had it."""
    missing = [n for n in cohort.incomplete_modalities() if n in model.names and n not in model.imputers]
    if missing:
        raise RunError(
            f"some subjects of cohort '{cohort.name}' lack {', '.join(missing)}, and this model was trained only on "
            "subjects who had it, so it cannot infer their latents; encode the cohort's complete subjects "
            '(load it with missing_policy="drop"), or train with train.missing_modalities = "infer" on a '
            "cohort where some subjects lack it"
        )


def by_modality(model: CRLModel, z: np.ndarray) -> dict[str, np.ndarray]:
    """`(n, n_latent)` latents as modality -> `(n, latents)`, in model order."""
    parts = np.split(z, np.cumsum([model.latent_sizes[name] for name in model.names])[:-1], axis=1)
    return dict(zip(model.names, parts, strict=True))


def encode_cohort(
    model: CRLModel,
    cohort: Cohort,
    normaliser: Normaliser,
    batch_size: int = 2048,
    device: torch.device | str | None = None,
) -> dict[str, np.ndarray]:
    """Posterior means of the latents for every subject: modality -> `(n_subjects, latents)` float32."""
    return by_modality(model, posterior_means(model, cohort, normaliser, batch_size, device)[0])


def eta_table(model: CRLModel, cohort: Cohort, eta: np.ndarray):
    """A DataFrame `subject_id` + `<modality>.eta<k>` columns (the run folder's eta.csv)."""
    import pandas as pd

    columns: dict[str, Any] = {"subject_id": [str(s) for s in cohort.subject_ids]}
    names = [f"{name}.eta{k}" for name in model.names for k in range(model.eta_sizes[name])]
    for j, column in enumerate(names):
        columns[column] = eta[:, j]
    return pd.DataFrame(columns)


def latent_table(model: CRLModel, cohort: Cohort, latents: dict[str, np.ndarray]):
    """A DataFrame `subject_id` + `<modality>.z<k>` columns (the run folder's latents.csv)."""
    import pandas as pd

    columns: dict[str, Any] = {"subject_id": [str(s) for s in cohort.subject_ids]}
    for name in model.names:
        for k in range(model.latent_sizes[name]):
            columns[f"{name}.z{k}"] = latents[name][:, k]
    return pd.DataFrame(columns)
