"""Session-state keys and the shared sidebar: which cohort and which trained run the pages are looking at."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import streamlit as st

from crl.runs.files import GRAPH_FILE
from crl.ui import demo
from crl.ui.markdown import escape_markdown

COHORT_DIR = "cohort_dir"
RUN_DIR = "run_dir"
NOTICE = "cohort_notice"  # a message to show once after the page reruns on a new cohort


def runs_root() -> Path:
    """Where new runs are written: $CRL_RUNS, else ./runs."""
    return Path(os.environ.get("CRL_RUNS", "runs")).resolve()


def cohort_dir() -> Path:
    """The cohort the user picked, else the built-in demo (created on first use)."""
    if COHORT_DIR not in st.session_state:
        st.session_state[COHORT_DIR] = str(demo.demo_cohort_dir())
    return Path(st.session_state[COHORT_DIR])


def set_cohort_dir(path: Path) -> None:
    st.session_state[COHORT_DIR] = str(path)


def available_runs() -> list[Path]:
    """Trained models to browse (run folders with a graph): the shipped demo run first, then newest first."""
    found = [p.parent for p in runs_root().glob(f"*/{GRAPH_FILE}")] if runs_root().exists() else []
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    shipped = demo.demo_run_dir()
    return ([shipped] if shipped else []) + found


def run_dir() -> Path | None:
    """The run the user picked, else the newest available (the shipped demo run first), else None."""
    if st.session_state.get(RUN_DIR) and Path(st.session_state[RUN_DIR]).exists():
        return Path(st.session_state[RUN_DIR])
    runs = available_runs()
    return runs[0] if runs else None


def run_label(run: Path) -> str:
    """How a run is named on screen: its folder name; the shipped demo model says what it is."""
    shipped = demo.demo_run_dir()
    if shipped is not None and Path(run) == shipped:
        return "Demo model (built in)"
    return Path(run).name


def set_run_dir(path: Path | None) -> None:
    st.session_state[RUN_DIR] = str(path) if path else None


def cohort_label(folder: Path) -> str:
    """The cohort's own name from its manifest (what the Cohort page shows), else the folder name."""
    try:
        with open(folder / "cohort.toml", "rb") as handle:
            return str(tomllib.load(handle).get("name") or folder.name)
    except (
        OSError,
        ValueError,
        RecursionError,
    ):  # unreadable, not TOML, nested too deep: the Cohort page explains
        return folder.name


def draw_sidebar() -> None:
    with st.sidebar:
        st.caption("Current cohort")
        st.text(cohort_label(cohort_dir()))
        run = run_dir()
        st.caption("Current trained model")
        if run:
            st.text(run_label(run))
        else:
            st.markdown("_none yet: train one on the Train page_")


def select_cohort(folder: Path, notice: str) -> None:
    """Make `folder` the current cohort and rerun, so the sidebar and every section show it."""
    set_cohort_dir(folder)
    st.session_state[NOTICE] = notice
    st.rerun()


def draw_notice() -> None:
    """The message left by the action that picked the cohort, shown once (plain text: it quotes typed names)."""
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.toast(escape_markdown(notice), icon=":material/check_circle:")
