"""Display text typed by a person (latent names, labels in cohort.toml) made safe to show on one line."""

from __future__ import annotations

import unicodedata

import numpy as np

# Format characters that hold emoji and scripts together ("👩\u200d⚕️" is one picture); every other control,
# format or unassigned character (NUL, escape sequences, bidi overrides that reorder the text around them) goes.
_JOINERS = frozenset("\u200c\u200d")


def one_line(text: object) -> str:
    """`text` as typed, on one line: control and format characters become spaces, spaces collapse."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    chars = [
        " " if unicodedata.category(ch).startswith("C") and ch not in _JOINERS else ch for ch in str(text)
    ]
    return " ".join("".join(chars).split())


def has_line_break_or_control(text: str) -> bool:
    """True when `text` holds a line break or a control character (a tab, NUL, an escape sequence)."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)
