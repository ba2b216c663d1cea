"""Load a cohort folder into memory: validate it, then align every modality on one sorted list of subjects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.cohort import Cohort, Modality
from crl.data.image_store import aligned_rows
from crl.data.manifest import read_manifest
from crl.data.missing import IMAGE_FILLER, filled
from crl.data.validate import MIN_SUBJECTS, check_covariates, validate_cohort
from crl.errors import CohortError


def load_cohort(
    root: Path,
    *,
    nan_policy: str = "error",
    length_policy: str = "error",
    min_subjects: int = MIN_SUBJECTS,
    missing_policy: str = "drop",
) -> Cohort:
    """Validate `root` and return its `Cohort`; raise `CohortError` (with `.report`) listing every problem.

    missing_policy="drop" (the default here): subjects missing from some modality, or dropped by
    nan_policy="drop", are left out and named in `cohort.excluded`. "infer" (what training uses unless
    train.missing_modalities says otherwise, crl.data.missing): they are kept, with `cohort.present` saying who
    has which modality and filler rows for the rest; only subjects with no usable modality are left out.
    Covariates are aligned to the subjects (rows they lack are NaN). Other policies: see `validate_cohort`.
    """
    report = validate_cohort(
        root,
        nan_policy=nan_policy,
        length_policy=length_policy,
        min_subjects=min_subjects,
        keep_data=True,
        missing_policy=missing_policy,
    )
    if not report.ok or report.prepared is None:
        raise CohortError(f"cohort at {report.root} cannot be loaded:\n{report.format()}", report)
    prepared, report.prepared = report.prepared, None  # the cohort takes over the arrays
    subject_ids = prepared.subject_ids
    modalities = {}
    for name, spec in prepared.manifest.modalities.items():
        loaded = prepared.data.pop(name)
        rows = pd.Index(loaded.subject_ids).get_indexer(subject_ids)
        # Index only when needed: an already aligned source is used as it is, not copied.
        same = len(rows) == len(loaded.subject_ids) and np.array_equal(rows, np.arange(len(rows)))
        if isinstance(loaded.data, np.memmap) and not (same and name not in prepared.present):
            # A memory-mapped image modality is re-indexed into another cache file, chunk by chunk.
            lacking = None if name not in prepared.present else ~prepared.present[name]
            data = aligned_rows(loaded.data, rows, lacking, IMAGE_FILLER)
        elif name in prepared.present:  # "infer": subjects lacking it get a filler row
            data = filled(loaded.data, rows, prepared.present[name])
        else:
            data = loaded.data if same else loaded.data[rows]
        names = list(loaded.feature_names)
        del loaded
        if data.dtype.kind == "f" and data.dtype != np.float32:
            data = data.astype(np.float32)
        modalities[name] = Modality(name, spec.kind, data, names, spec.latents)
    covariates = None
    if prepared.covariates is not None:
        covariates = prepared.covariates.reindex(pd.Index(subject_ids, name=prepared.covariates.index.name))
    return Cohort(
        name=prepared.manifest.name,
        subject_ids=subject_ids,
        modalities=modalities,
        covariates=covariates,
        root=report.root,
        excluded=dict(report.excluded),
        report=report,
        present=dict(prepared.present),
        lacks=dict(prepared.lacks),
    )


def load_covariates_only(root: Path) -> pd.DataFrame | None:
    """The cohort's `[covariates]` table indexed by subject ID, None when it declares none, read without any
    modality: linking covariates to a run's latents needs only them and the run's latents.csv, not every
    photograph decoded. Raises CohortError naming each problem when the manifest or the table is unusable."""
    root = Path(root)
    manifest, problems = read_manifest(root)
    frame = None
    if manifest is not None:
        frame = check_covariates(root, manifest, np.array([], dtype=str), problems)
    errors = [p for p in problems if p.severity == "error"]
    if manifest is None or errors:
        text = "\n".join(p.line() for p in errors or problems)
        raise CohortError(f"the covariates of the cohort at {root} cannot be read:\n{text}")
    return frame
