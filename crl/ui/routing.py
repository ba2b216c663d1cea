"""Deep links on a fresh server: a page opened before app.py's router ever ran goes through the router.

Until some session has run `st.navigation`, Streamlit serves every file in pages/ as a legacy page of its own
(lower-case file names in the sidebar, no shared sidebar, no demo selection). app.py marks the session when its
router runs; a page that finds no mark remembers itself, restarts the app at app.py, and app.py switches back
to it once its navigation exists, so a bookmarked /graph still lands on the graph.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

_ROUTED = "_crl_routed"
_WANTED = "_crl_deep_link"
_WANTED_QUERY = "_crl_deep_link_query"  # its query string (crl.ui.url_state), carried through both switches
ROOT = Path(__file__).resolve().parents[2]


def follow_deep_link() -> None:
    """Call in app.py right after `st.navigation`: marks the session and finishes a pending deep link."""
    st.session_state[_ROUTED] = True
    wanted = st.session_state.pop(_WANTED, None)
    if wanted:
        st.switch_page(wanted, query_params=st.session_state.pop(_WANTED_QUERY, None) or None)


def enter_through_app(page_file: str) -> None:
    """Call first in every page, `enter_through_app(__file__)`: reroutes a page run without app.py's router."""
    if st.session_state.get(_ROUTED):
        return
    st.session_state[_WANTED] = Path(page_file).resolve().relative_to(ROOT).as_posix()
    st.session_state[_WANTED_QUERY] = st.query_params.to_dict()
    st.switch_page("app.py")
