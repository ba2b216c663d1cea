"""A cohort as tensors ready for batching: the one place training and encoding turn arrays into model input."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from crl.core.model import PRESENT
from crl.core.nn import normaliser_tensors, to_model_layout
from crl.data.cohort import Cohort, Normaliser
from crl.data.image_store import release
from crl.errors import TrainingError

# Batches after which the pages of memory-mapped images read so far are handed back to the kernel.
RELEASE_EVERY = 16
# Cohorts whose arrays exceed this stay in host memory and are copied to the GPU batch by batch.
DEVICE_RESIDENT_BYTES = 2 * 1024**3
# Host memory one no-grad pass (validation loss, posterior means) may hold in activations on the CPU. Measured
# (bench/results/FINDINGS.md, memory section): the demo model holds about 20 float32 copies of each image value per
# subject in one such pass, so 2048 subjects of two 64x64 RGB photographs held 3.8 GiB; counted with margin (24).
CPU_PASS_BYTES = 512 * 1024**2
ACTIVATION_COPIES = 24


def check_finite(cohort: Cohort, names: Sequence[str]) -> None:
    """TrainingError naming the modality and subjects when any value is missing or infinite."""
    for name in names:
        modality = cohort.modalities[name]
        if modality.kind == "image" or np.issubdtype(modality.data.dtype, np.integer):
            continue
        bad = ~np.isfinite(modality.data.reshape(len(modality.data), -1)).all(axis=1)
        if bad.any():
            first = ", ".join(map(str, cohort.subject_ids[np.flatnonzero(bad)[:3]]))
            raise TrainingError(
                f"modality '{name}' has missing or non-finite values in {int(bad.sum())} of {len(bad)} "
                f"subjects (e.g. {first}); impute or drop them (crl validate lists them) and train again"
            )


def image_tensor(data: np.ndarray) -> torch.Tensor:
    """A uint8 tensor sharing `data`'s memory: a memory-mapped modality stays on disk, read page by page as
    batches are gathered. (Read-only maps are never written to: torch's warning about that is silenced.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(data))


class CohortTensors:
    """A cohort's modalities as tensors ready for batching: tabular and time series pre-normalised to float32;
    images kept uint8 and normalised per batch. When some subject lacks one of the modalities, every batch also
    carries the `(batch, modalities)` presence mask under `crl.core.model.PRESENT` (it travels with the batch,
    so data-parallel shards keep theirs)."""

    def __init__(self, cohort: Cohort, normaliser: Normaliser, device: torch.device, names: Sequence[str]):
        check_finite(cohort, names)
        self.device = device
        self.kinds = {name: cohort.modalities[name].kind for name in names}
        total = sum(cohort.modalities[n].data.size * (1 if self.kinds[n] == "image" else 4) for n in names)
        self.storage = (
            device if (device.type == "cpu" or total <= DEVICE_RESIDENT_BYTES) else torch.device("cpu")
        )
        self.data: dict[str, torch.Tensor] = {}
        self.image_norm: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.present: torch.Tensor | None = None
        self.mapped: dict[str, np.memmap] = {}  # memory-mapped images (crl.data.image_store), read per batch
        self.batches = 0
        if any(name in cohort.incomplete_modalities() for name in names):
            mask = np.stack([cohort.presence(name) for name in names], axis=1)
            self.present = torch.from_numpy(mask).to(self.storage)
        for name in names:
            modality = cohort.modalities[name]
            if modality.kind == "image":
                self.data[name] = image_tensor(modality.data).to(self.storage)
                if isinstance(modality.data, np.memmap) and self.storage.type == "cpu":
                    self.mapped[name] = modality.data
                centre, scale = normaliser_tensors("image", normaliser.centre[name], normaliser.scale[name])
                self.image_norm[name] = (centre.to(device), scale.to(device))
            else:
                x = normaliser.apply(name, modality.data)
                self.data[name] = (
                    to_model_layout(modality.kind, torch.from_numpy(x)).contiguous().to(self.storage)
                )

    def pass_chunk(self, requested: int) -> int:
        """Subjects per chunk of a no-grad pass over many subjects: `requested` on an accelerator, and on the CPU
        at most what keeps the image encoders' activations within CPU_PASS_BYTES (a fixed chunk of 2048 made
        the validation pass the training's peak memory, growing with the validation split)."""
        if self.device.type != "cpu":
            return max(1, requested)
        values = sum(int(np.prod(t.shape[1:])) for n, t in self.data.items() if self.kinds[n] == "image")
        per_subject = values * 4 * ACTIVATION_COPIES
        return max(1, min(requested, CPU_PASS_BYTES // per_subject)) if per_subject else max(1, requested)

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """Model-layout, normalised float32 tensors on the training device for these subject rows."""
        indices = indices.to(self.storage)
        out = {}
        for name, tensor in self.data.items():
            x = tensor.index_select(0, indices)
            if self.storage != self.device:
                x = x.to(self.device, non_blocking=True)
            if self.kinds[name] == "image":
                centre, scale = self.image_norm[name]
                x = (to_model_layout("image", x).float() - centre) / scale
            out[name] = x
        self.batches += 1
        if self.batches % RELEASE_EVERY == 0:  # pages already batched count as resident memory until released
            for array in self.mapped.values():
                release(array)
        if self.present is not None:
            mask = self.present.index_select(0, indices)
            out[PRESENT] = mask.to(self.device) if self.storage != self.device else mask
        return out
