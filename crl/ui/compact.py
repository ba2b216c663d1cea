"""Less empty space above each page, for projectors: Streamlit's 6rem of top padding and 2.75rem titles left a
1280x720 screen at 150 % browser zoom showing a page's title and little else. (Heading sizes are in
.streamlit/config.toml; the padding has no setting, so it is one CSS rule on Streamlit's main block.)"""

from __future__ import annotations

import streamlit as st

# 3.5rem still clears the app's fixed header bar (3.75rem tall, mostly transparent at the left).
STYLE = '<style>[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }</style>'


def apply() -> None:
    """Once per script run, before the page draws (st.html with only a style takes no room on the page)."""
    st.html(STYLE)
