"""Where the built-in demo cohort lives: shipped in assets/, else generated once into a cache folder."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crl.data.cache import cache_root
from crl.runs.graph_file import graph_path

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SHIPPED = ASSETS / "demo" / "cohort"
SHIPPED_RUN = ASSETS / "demo" / "run"
FALLBACK_PRESET = "paper-case1"


@st.cache_resource(show_spinner="Preparing the demo cohort…")
def demo_cohort_dir() -> Path:
    """The shipped demo cohort; until one ships, a small synthetic cohort written once and reused."""
    if (SHIPPED / "cohort.toml").exists():
        return SHIPPED
    from crl.data.synthetic import write_preset

    target = cache_root() / "demo-synthetic"
    if not (target / "cohort.toml").exists():
        write_preset(FALLBACK_PRESET, target, n=2000, seed=0, overwrite=True)
    return target


def demo_run_dir() -> Path | None:
    """The model trained on the shipped demo cohort, when it ships."""
    return SHIPPED_RUN if graph_path(SHIPPED_RUN).exists() else None
