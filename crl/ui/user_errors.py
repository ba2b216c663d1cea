"""Errors the user can fix are shown as a red box with their message, never as a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from crl.errors import CrlError
from crl.ui.markdown import escape_markdown


def show_error(error: CrlError) -> None:
    """One red box per message line (a CohortError lists its problems one per line)."""
    lines = [line for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    st.error("  \n".join(escape_markdown(line) for line in lines), icon=":material/error:")


@contextmanager
def user_errors() -> Iterator[None]:
    """Run a block of a page; a CrlError inside it becomes `st.error` and the rest of the page still draws."""
    try:
        yield
    except CrlError as error:
        show_error(error)
