"""Cached loaders: heavy objects load once per (path, modification time), never on every rerun."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crl.data import Cohort, ValidationReport, load_cohort, validate_cohort


def folder_stamp(folder: Path) -> float:
    """Newest modification time of the folder's direct children: changes when any source file is rewritten."""
    folder = Path(folder)
    if not folder.exists():
        return 0.0
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])


@st.cache_data(show_spinner="Checking the cohort…", max_entries=16)
def _validation(path: str, stamp: float) -> ValidationReport:
    return validate_cohort(Path(path))


@st.cache_resource(show_spinner="Loading the cohort…", max_entries=4)
def _cohort(path: str, stamp: float) -> Cohort:
    return load_cohort(Path(path))


def validation(folder: Path) -> ValidationReport:
    return _validation(str(folder), folder_stamp(folder))


def cohort(folder: Path) -> Cohort:
    """The loaded cohort (raises CohortError when it cannot be used; check `validation` first)."""
    return _cohort(str(folder), folder_stamp(folder))
