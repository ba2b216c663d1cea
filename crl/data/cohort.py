"""The in-memory cohort: per-modality arrays aligned by subject ID, a seeded split, train-only normalisation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crl.data.image_store import aligned_rows

KINDS = ("tabular", "timeseries", "image")


def validation_count(n: int, validation_fraction: float) -> int:
    """Subjects `Cohort.split` holds out for validation out of `n`: at least one when there is a fraction and
    more than one subject, never all of them."""
    n_val = int(round(n * validation_fraction)) if n > 1 else 0
    return min(max(n_val, 1 if validation_fraction > 0 and n > 1 else 0), n - 1)


@dataclass
class Modality:
    """One modality's data, rows aligned with `Cohort.subject_ids`.

    data: tabular (N, F) float32; timeseries (N, C, T) float32; image (N, H, W, C) uint8 (kept uint8 until batched).
    feature_names: tabular column names; timeseries channel names; image channel names (e.g. ["gray"] or R, G, B).
    """

    name: str
    kind: str
    data: np.ndarray
    feature_names: list[str]
    latents: int = 2

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one subject's observation."""
        return tuple(self.data.shape[1:])


@dataclass
class Normaliser:
    """Per-modality centre and scale fitted on the training split only, broadcastable to one observation."""

    centre: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]

    def apply(self, name: str, x: np.ndarray) -> np.ndarray:
        """Normalise a batch of modality `name` to float32."""
        return ((x.astype(np.float32) - self.centre[name]) / self.scale[name]).astype(np.float32)

    def invert(self, name: str, x: np.ndarray) -> np.ndarray:
        """Back to the original units (images: 0–255 floats)."""
        return x * self.scale[name] + self.centre[name]

    def to_dict(self) -> dict:
        return {k: {"centre": self.centre[k].tolist(), "scale": self.scale[k].tolist()} for k in self.centre}

    @classmethod
    def from_dict(cls, d: dict) -> Normaliser:
        return cls(
            centre={k: np.asarray(v["centre"], dtype=np.float32) for k, v in d.items()},
            scale={k: np.asarray(v["scale"], dtype=np.float32) for k, v in d.items()},
        )


@dataclass
class Cohort:
    """Subjects in one order; who was left out and why is kept in `excluded`.

    Loaded with missing_policy="drop" (crl.data.load) every subject is present in every modality. Under "infer"
    a subject may lack some modalities: `present[name]` is then a boolean vector over the subjects (only for
    modalities someone lacks; absent means all present), the lacking rows of `data` hold a neutral filler
    (crl.data.missing) that the model never reads, and `lacks` says, for every subject "drop" would leave out
    (kept or not), why: `drop_incomplete` puts that into `excluded`.
    """

    name: str
    subject_ids: np.ndarray  # (N,) str
    modalities: dict[str, Modality]
    covariates: pd.DataFrame | None = None  # indexed by subject_id, rows aligned with subject_ids
    root: Path | None = None
    excluded: dict[str, str] = field(default_factory=dict)  # subject_id -> reason
    report: Any = None  # the ValidationReport it was loaded with (warnings for the UI), when loaded from disk
    present: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # modality -> (N,) bool, incomplete ones only
    lacks: dict[str, str] = field(default_factory=dict)  # subject_id -> why "drop" leaves it out

    def __len__(self) -> int:
        return len(self.subject_ids)

    def presence(self, name: str) -> np.ndarray:
        """`(N,)` bool: which subjects have modality `name` (all True for a modality nobody lacks)."""
        found = self.present.get(name)
        return np.ones(len(self), dtype=bool) if found is None else np.asarray(found, dtype=bool)

    def incomplete_modalities(self) -> list[str]:
        """The modalities some subject lacks, in cohort order."""
        return [n for n in self.modalities if n in self.present and not np.all(self.present[n])]

    @property
    def complete(self) -> np.ndarray:
        """`(N,)` bool: subjects present in every modality."""
        mask = np.ones(len(self), dtype=bool)
        for name in self.incomplete_modalities():
            mask &= self.presence(name)
        return mask

    def lacking(self) -> list[str]:
        """Per subject, the modalities it lacks joined by ';' ('' for a complete subject)."""
        names = self.incomplete_modalities()
        masks = [self.presence(n) for n in names]
        return [";".join(n for n, m in zip(names, masks, strict=True) if not m[i]) for i in range(len(self))]

    def drop_incomplete(self) -> Cohort:
        """The cohort of its complete subjects only, as missing_policy="drop" loads it: the others move to
        `excluded` with the reason that policy gives. Returns itself when it holds no trace of "infer"."""
        if not self.incomplete_modalities() and not self.lacks:
            return self
        keep = np.flatnonzero(self.complete)
        modalities = {
            name: Modality(m.name, m.kind, aligned_rows(m.data, keep), list(m.feature_names), m.latents)
            for name, m in self.modalities.items()
        }
        ids = self.subject_ids[keep]
        excluded = {**self.excluded, **self.lacks}
        covariates = None if self.covariates is None else self.covariates.iloc[keep]
        return Cohort(self.name, ids, modalities, covariates, self.root, excluded, self.report)

    def split(self, seed: int = 0, validation_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
        """Seeded split by subject: (train_indices, validation_indices), each sorted."""
        n = len(self)
        order = np.random.default_rng(seed).permutation(n)
        n_val = validation_count(n, validation_fraction)
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def fit_normaliser(self, train_indices: np.ndarray) -> Normaliser:
        """Centre/scale per tabular column or time-series channel; images map 0–255 to about [-1, 1]."""
        centre, scale = {}, {}
        for name, m in self.modalities.items():
            rows = np.asarray(train_indices)
            if name in self.present:  # statistics of the subjects that have it (fillers would pull them)
                have = self.presence(name)
                rows = rows[have[rows]] if have[rows].any() else np.flatnonzero(have)
            if m.kind == "image":  # fixed, so the pixels are never gathered here
                centre[name] = np.full((1,) * (m.data.ndim - 1), 127.5, dtype=np.float32)
                scale[name] = np.full((1,) * (m.data.ndim - 1), 127.5, dtype=np.float32)
                continue
            x = m.data[rows]
            axes = (0,) if m.kind == "tabular" else (0, 2)
            mu = x.mean(axis=axes, keepdims=True, dtype=np.float64)[0]
            sd = x.std(axis=axes, keepdims=True, dtype=np.float64)[0]
            centre[name] = mu.astype(np.float32)
            scale[name] = np.where(sd > 1e-8, sd, 1.0).astype(np.float32)
        return Normaliser(centre, scale)

    def fingerprint(self) -> str:
        """A short hash of IDs, modality names, kinds and shapes: tells whether a model fits this cohort."""
        h = hashlib.sha256()
        h.update("\n".join(map(str, self.subject_ids)).encode())
        for name, m in sorted(self.modalities.items()):
            h.update(f"{name}|{m.kind}|{m.shape}|{','.join(m.feature_names)}".encode())
        return h.hexdigest()[:16]

    def schema(self) -> dict:
        """Modality names, kinds, shapes and feature names: what a trained model needs to encode another cohort;
        `"incomplete": True` on a modality some subject lacks."""
        incomplete = set(self.incomplete_modalities())
        return {
            name: {
                "kind": m.kind,
                "shape": list(m.shape),
                "features": list(m.feature_names),
                "latents": m.latents,
                # Some subject lacks it: the model then infers its latents for them (crl.core.model).
                **({"incomplete": True} if name in incomplete else {}),
            }
            for name, m in self.modalities.items()
        }
