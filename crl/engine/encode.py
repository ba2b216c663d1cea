"""A trained model's posterior means for a whole cohort, and the latents table a run folder keeps."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crl.core.model import CRLModel
from crl.data.cohort import Cohort, Normaliser
from crl.engine.tensors import CohortTensors


def encode_cohort(
    model: CRLModel,
    cohort: Cohort,
    normaliser: Normaliser,
    batch_size: int = 2048,
    device: torch.device | str | None = None,
) -> dict[str, np.ndarray]:
    """Posterior means for every subject: modality -> `(n_subjects, latents)` float32."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    tensors = CohortTensors(cohort, normaliser, device, model.names)
    was_training = model.training
    model.eval()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in model.names}
    with torch.no_grad():
        for start in range(0, len(cohort), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(cohort)), device="cpu")
            for name, z in model.encode(tensors.batch(idx)).items():
                parts[name].append(z.float().cpu().numpy())
    model.train(was_training)
    return {
        name: np.concatenate(chunks, 0) if chunks else np.zeros((0, model.latent_sizes[name]), np.float32)
        for name, chunks in parts.items()
    }


def latent_table(model: CRLModel, cohort: Cohort, latents: dict[str, np.ndarray]):
    """A DataFrame `subject_id` + `<modality>.z<k>` columns (the run folder's latents.csv)."""
    import pandas as pd

    columns: dict[str, Any] = {"subject_id": [str(s) for s in cohort.subject_ids]}
    for name in model.names:
        for k in range(model.latent_sizes[name]):
            columns[f"{name}.z{k}"] = latents[name][:, k]
    return pd.DataFrame(columns)
