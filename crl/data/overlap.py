"""Which subjects have which modalities: read only the subject IDs of each source named in the manifest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.loaders import IMAGE_SUFFIXES, anndata_obs_names, as_str_ids, special_file
from crl.data.manifest import ModalitySpec, read_manifest
from crl.data.manifest_omics import is_omics_path


def source_subject_ids(root: Path) -> dict[str, np.ndarray]:
    """Modality name -> the distinct subject IDs (str, sorted) its source holds, in manifest order.

    Reads only the ID column / "ids" array / image file names, so it is cheap even for large cohorts. A
    modality whose source is missing or unreadable is left out (the validation report says why); an
    unreadable manifest gives an empty mapping.
    """
    manifest, _ = read_manifest(Path(root))
    if manifest is None:
        return {}
    found = {}
    for name, spec in manifest.modalities.items():
        try:
            ids = _ids(Path(root) / spec.path, manifest.id, spec)
        except Exception:  # noqa: BLE001 - a source that cannot be read is reported by validation instead
            continue
        found[name] = np.unique(ids)
    return found


def _ids(path: Path, id_column: str, spec: ModalitySpec) -> np.ndarray:
    """The IDs in one source; only regular files (and folders of them) are opened, as the loaders do."""
    if special_file(path, folder_ok=True):
        raise ValueError(f"{path} is not a regular file")
    if path.is_dir():
        names = [
            p.stem
            for p in path.iterdir()
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and not special_file(p)
        ]
        return np.asarray(names, dtype=str)
    suffix = path.suffix.lower()
    if is_omics_path(path):
        return anndata_obs_names(path, spec.options.get("modality"))
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            ids = archive["ids"]
        if ids.dtype.kind == "S":
            ids = np.char.decode(ids, "utf-8")
        return as_str_ids(ids)
    if suffix == ".csv":
        column = pd.read_csv(path, usecols=[id_column], dtype={id_column: str})[id_column]
    else:
        column = pd.read_parquet(path, columns=[id_column])[id_column]
    return as_str_ids(column.dropna())


def overlap_counts(ids: Mapping[str, Iterable[str]]) -> dict[tuple[str, ...], int]:
    """Combination of modalities (names in the mapping's order) -> number of subjects with exactly those.

    Feeds `crl.viz.previews.overlap_figure`; the combination holding every modality is the subjects that
    training can use (before any NaN policy drops some).
    """
    order = list(ids)
    has: dict[str, set[str]] = {}
    for name in order:
        for subject in ids[name]:
            has.setdefault(str(subject), set()).add(name)
    counts = Counter(tuple(m for m in order if m in present) for present in has.values())
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
