"""The dashboard's place in its URL: the current cohort, trained model and a few page settings ride in the
query string, so a reload keeps them and a copied link opens the same view.

app.py calls `restore()` once per browser session, before anything reads the state, and `publish()` on every
run. Cohorts and runs go by name ("demo" for the built-in ones); a name that no longer exists is ignored, so an
old link opens on the defaults rather than failing. Page settings are bound with `seed()` before their widget
is drawn and `keep()` after it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from crl.ui import demo, state

COHORT, RUN = "cohort", "run"
DEMO = "demo"
_RESTORED = "_crl_url_restored"
_FROM_URL = "_crl_url_settings"  # settings the first run found in the URL, waiting for their widgets


def _cohort_param(folder: Path) -> str:
    return DEMO if folder == demo.demo_cohort_dir() else str(folder)


def _run_param(run: Path) -> str:
    return DEMO if run == demo.demo_run_dir() else run.name


def restore() -> None:
    """Adopt the cohort and run the URL names, once per session; keep its other parameters for seed()."""
    if st.session_state.get(_RESTORED):
        return
    st.session_state[_RESTORED] = True
    params = st.query_params.to_dict()
    cohort = params.pop(COHORT, None)
    if cohort:
        folder = demo.demo_cohort_dir() if cohort == DEMO else Path(cohort)
        if (folder / "cohort.toml").is_file():
            state.set_cohort_dir(folder)
    run = params.pop(RUN, None)
    if run:
        found = next((r for r in state.available_runs() if _run_param(r) == run), None)
        if found is not None:
            state.set_run_dir(found)
    st.session_state[_FROM_URL] = params


def publish() -> None:
    """Write the current cohort and run into the URL (no rerun follows)."""
    st.query_params[COHORT] = _cohort_param(state.cohort_dir())
    run = state.run_dir()
    if run is not None:
        st.query_params[RUN] = _run_param(run)
    elif RUN in st.query_params:
        del st.query_params[RUN]


def seed(param: str, key: str, default: Any, parse: Callable[[str], Any] = str) -> None:
    """Before drawing the widget `key`: give it the URL's value of `param` the first time, else `default`.
    The widget is then drawn without a value of its own (its session state holds it)."""
    waiting = st.session_state.get(_FROM_URL, {})
    if key not in st.session_state:
        value = default
        if param in waiting:
            try:
                value = parse(waiting.pop(param))
            except (TypeError, ValueError):
                value = default  # a hand-edited link: the default, not an error
        st.session_state[key] = value


def keep(param: str, key: str) -> None:
    """After drawing the widget `key`: its value goes into the URL as `param`."""
    value = st.session_state.get(key)
    if value is None:
        st.query_params.pop(param, None)
    else:
        st.query_params[param] = str(value)
