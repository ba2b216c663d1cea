"""Session-state keys and the shared sidebar: which cohort the pages are looking at."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crl.ui import demo

COHORT_DIR = "cohort_dir"


def cohort_dir() -> Path:
    """The cohort the user picked, else the built-in demo (created on first use)."""
    if COHORT_DIR not in st.session_state:
        st.session_state[COHORT_DIR] = str(demo.demo_cohort_dir())
    return Path(st.session_state[COHORT_DIR])


def set_cohort_dir(path: Path) -> None:
    st.session_state[COHORT_DIR] = str(path)


def draw_sidebar() -> None:
    with st.sidebar:
        st.caption("Current cohort")
        st.markdown(f"**{cohort_dir().name}**")
