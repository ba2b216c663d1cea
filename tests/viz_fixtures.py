"""Shared by the figure tests: a markup payload that must come out escaped, and every string a figure carries."""

from __future__ import annotations

import numpy as np

PAYLOAD = "<script>alert(1)</script>"


def figure_text(fig) -> str:
    """Every string in the figure as plotly.js receives it (to_json would hide a raw '<' as \\u003c)."""
    out: list[str] = []

    def walk(x):
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)) or (isinstance(x, np.ndarray) and x.dtype == object):
            for v in x:
                walk(v)

    walk(fig.to_dict())
    return "\n".join(out)
