"""A generated cohort in memory: its modalities, ground truth and the model that produced them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crl.data.cohort import Cohort, Modality
from crl.data.missing import filled
from crl.data.synthetic.mechanisms import StructuralModel
from crl.data.synthetic.mixing import LeakyMixing
from crl.data.synthetic.presets import PresetSpec
from crl.data.truth import Truth


@dataclass
class SyntheticModality:
    """One generated modality. data: tabular `(n, F)` float32, timeseries `(n, C, T)` float32, image `(n, H, W)` uint8."""

    name: str
    kind: str
    data: np.ndarray
    feature_names: list[str]
    latents: int
    mixing: LeakyMixing | None = None  # tabular modalities only
    # IDs of the rows of `data` when some of the cohort's subjects lack this modality (None: all, in order)
    subject_ids: np.ndarray | None = None


@dataclass
class SyntheticCohort:
    """A generated cohort: subjects, modalities, ground truth and the model that produced them."""

    preset: str
    seed: int
    spec: PresetSpec
    subject_ids: np.ndarray  # (n,) str
    modalities: dict[str, SyntheticModality]
    truth: Truth
    model: StructuralModel = field(repr=False)  # or any object with `.adjacency` (the demo's own model)
    covariates: pd.DataFrame | None = None  # observed clinical variables indexed by subject_id
    extra_truth: dict[str, pd.DataFrame] = field(default_factory=dict)  # written as truth/<key>.csv
    readme: str | None = None  # written as README.md in the cohort folder
    npz_compression: str = "deflate"  # "bzip2" is about a third smaller for images, and numpy reads it too
    # cohort.toml's display keys: {"modalities": {name: {label, time_step, channels|columns}}, "covariates":
    # {column: {label, unit}}} (docs/cohort-format.md, "Labels and units")
    labels: dict[str, dict] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.preset

    def __len__(self) -> int:
        return len(self.subject_ids)

    def to_cohort(self, missing_policy: str = "drop") -> Cohort:
        """The same data as a `Cohort` (grey images gain a channel axis), so training can skip the disk.

        As when loading from disk (crl.data.load), under "drop" subjects missing from some modality are left out
        and named in `excluded`; under "infer" they are kept, with `present` masks and filler rows
        (crl.data.missing), and only subjects in no modality are left out.
        """
        missing: dict[str, list[str]] = {}
        for name, m in self.modalities.items():
            if m.subject_ids is not None:
                for subject in np.setdiff1d(self.subject_ids, m.subject_ids):
                    missing.setdefault(str(subject), []).append(name)
        infer = missing_policy == "infer"
        nowhere = {s for s, names in missing.items() if len(names) == len(self.modalities)}
        left_out = nowhere if infer else set(missing)
        keep = np.array([s for s in self.subject_ids if s not in left_out], dtype=self.subject_ids.dtype)
        mods, present = {}, {}
        for name, m in self.modalities.items():
            data = m.data[..., None] if m.kind == "image" and m.data.ndim == 3 else m.data
            if m.subject_ids is not None:
                rows = pd.Index(m.subject_ids).get_indexer(keep)
                if infer and (rows < 0).any():
                    present[name] = rows >= 0
                    data = filled(data, rows, present[name])
                else:
                    data = data[rows]
            mods[name] = Modality(
                name=name, kind=m.kind, data=data, feature_names=list(m.feature_names), latents=m.latents
            )
        covariates = (
            None if self.covariates is None else self.covariates.reindex(pd.Index(keep, name="subject_id"))
        )
        reasons = {s: f"missing from {', '.join(names)}" for s, names in missing.items()}
        excluded = {s: r for s, r in reasons.items() if s in left_out}
        if infer:
            excluded = {s: f"no usable modality: {r}" for s, r in excluded.items()}
        return Cohort(
            name=self.preset,
            subject_ids=keep,
            modalities=mods,
            covariates=covariates,
            excluded=excluded,
            present=present,
            lacks=reasons if infer else {},
        )


def subject_ids(n: int) -> np.ndarray:
    """S00001, S00002, ... (wider when n needs more digits)."""
    width = max(5, len(str(n)))
    return np.array([f"S{i:0{width}d}" for i in range(1, n + 1)])
