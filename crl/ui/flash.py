"""The Train page's one-off messages: actions run in button callbacks, before the page is drawn, so what they
have to say is kept in the session and shown once at the top of the next run."""

from __future__ import annotations

import streamlit as st

from crl.ui.markdown import escape_markdown

FLASH_KEY = "train_flash"


def flash(kind: str, message: str) -> None:
    """A message shown once at the top of the next page run (actions run in callbacks, before the page)."""
    st.session_state[FLASH_KEY] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop(FLASH_KEY, (None, None))
    if kind == "error":
        st.error(escape_markdown(message), icon=":material/error:")
    elif kind:
        st.success(escape_markdown(message), icon=":material/check_circle:")
