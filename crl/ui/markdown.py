"""User text made literal inside Streamlit markdown: names typed or uploaded never become formatting."""

from __future__ import annotations

import re

# Markdown punctuation, plus what Streamlit adds on top: `$` (LaTeX), `:` (emoji, icons, :red[colour]),
# `<` `>` `&` (HTML and entities). A backslash before any ASCII punctuation shows it as itself.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$:~&=\"'])")


def escape_markdown(text: object) -> str:
    """`text` as literal characters in `st.markdown`, `st.error`, `st.success`, metric labels and captions.

    Line breaks become spaces so one value cannot start a heading or a list.
    """
    flat = re.sub(r"\s+", " ", str(text))
    return _SPECIAL.sub(r"\\\1", flat)
