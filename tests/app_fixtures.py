"""Shared by the AppTest page tests: opening one page of the app (the `runs` fixture is in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).parent / "../app.py"


def open_page(page: str, timeout: float = 60, **session) -> AppTest:
    """The app run once, `session` set in its session state, then switched to `page` (e.g. "pages/graph.py")."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at
