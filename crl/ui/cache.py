"""Cached loaders: heavy objects load once per (path, modification time), never on every rerun."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crl.data import Cohort, ValidationReport, load_cohort
from crl.data.labels import Labels, labels_of
from crl.errors import CohortError


def folder_stamp(folder: Path) -> float:
    """Newest modification time of the folder's direct children: changes when any source file is rewritten."""
    folder = Path(folder)
    if not folder.exists():
        return 0.0
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])


@st.cache_resource(show_spinner="Loading and checking the cohort…", max_entries=4)
def _load(path: str, stamp: float) -> tuple[Cohort | None, ValidationReport]:
    """One pass over the files: loading validates, so a usable cohort and its report come together."""
    try:
        loaded = load_cohort(Path(path))
    except CohortError as error:
        if error.report is None:
            raise
        return None, error.report
    return loaded, loaded.report


def validation(folder: Path) -> ValidationReport:
    return _load(str(folder), folder_stamp(folder))[1]


def cohort(folder: Path) -> Cohort:
    """The loaded cohort; raises CohortError when it cannot be used (check `validation(folder).ok` first)."""
    loaded, report = _load(str(folder), folder_stamp(folder))
    if loaded is None:
        raise CohortError(f"cohort at {folder} cannot be loaded:\n{report.format()}", report)
    return loaded


@st.cache_data(show_spinner=False, max_entries=32)
def _labels(path: str, stamp: float) -> Labels:
    return labels_of(Path(path))


def labels(folder: Path | None) -> Labels:
    """The display names cohort.toml declares (crl.data.labels), read again when it changes; without a folder,
    readable forms of the raw names."""
    if folder is None:
        return Labels()
    manifest = Path(folder) / "cohort.toml"
    try:
        stamp = manifest.stat().st_mtime
    except OSError:
        stamp = 0.0
    return _labels(str(folder), stamp)
