"""Latent display names that once broke, or could break, a view or an export (issue #20): markup, regular-
expression syntax, characters XML forbids, line breaks, emoji, right-to-left text and very long names.

Each entry is one case of the hostile-input corpus: `hostile_params()` gives them as `pytest.param`s marked
`hostile`, with readable ids.
"""

from __future__ import annotations

import pytest

HOSTILE_NAMES: dict[str, str] = {
    "less-than": "a<b",
    "ampersand": "x & y",
    "paren-and-less-than": "dose (<5 mg",  # the report: vis-network built /dose (&lt;5 mg/ and threw
    "bracket-and-ampersand": "[ref & co",
    "entity-text": "&lt; not a tag &amp;",
    "markup-tags": "</b><i>italic?</i> <code>x",
    "script": "<script>alert(1)</script>",
    "double-quote": 'quote"s',
    "apostrophe": "apos'",
    "backslash": "back\\slash\\",
    "regex-syntax": "a+?*{2}(?<x>|)$^",
    "markdown": "*bold* _it_ `code`",
    "control-bel": "ctrl\x07",
    "control-esc": "esc\x1b[31m",
    "nul": "nul\x00",
    "vertical-tab-form-feed": "vt\x0bff\x0c",
    "newline": "newline\nname",
    "carriage-return": "cr\rname",
    "noncharacter": "nonchar\ufffe\uffff",
    "lone-surrogate": "half\ud800pair",
    "emoji": "🧠 brain 👩\u200d⚕️ 🏳️\u200d🌈",
    "right-to-left": "שלום عربي mixed",
    "bidi-override": "\u202eevil\u202c",
    "very-long": "Long " * 60,
}


def hostile_params(names: dict[str, str] = HOSTILE_NAMES) -> list:
    """Every name as a `pytest.param` marked `hostile`, its key as the test id."""
    return [pytest.param(text, id=key, marks=pytest.mark.hostile) for key, text in names.items()]
