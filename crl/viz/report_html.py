"""The shareable report's page: one self-contained HTML document (styles inline, nothing loaded from a
network).

Pure string building; crl.analysis.report decides what goes in. Every piece of text passes through `esc`
unless it is markup this module or plotly produced, so a latent named "<script>" shows as written.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from crl.viz.palette import FONT_FAMILY, NEUTRAL_DARK, TEXT_COLOUR

# What a report file says it is: crl report overwrites a file in a run folder only when it carries this.
GENERATOR = "crl report"

_CSS = f"""
body {{ font-family: {FONT_FAMILY}; color: {TEXT_COLOUR}; margin: 0; background: #F7F8FA; line-height: 1.5; }}
main {{ max-width: 1040px; margin: 0 auto; padding: 24px 32px 64px; background: white; }}
h1 {{ font-size: 28px; margin: 8px 0 4px; }}
h2 {{ font-size: 21px; margin: 36px 0 8px; padding-top: 12px; border-top: 1px solid #E4E7EB; }}
h3 {{ font-size: 17px; margin: 24px 0 6px; }}
p.meta, p.note {{ color: #52606D; font-size: 14px; }}
nav a {{ margin-right: 14px; color: {NEUTRAL_DARK}; font-size: 14px; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #E4E7EB; padding: 4px 10px; text-align: left; vertical-align: top; }}
th {{ background: #F0F2F5; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.warn {{ background: #FFF4E5; border-left: 4px solid #E69F00; padding: 8px 12px; margin: 10px 0; }}
.ok {{ background: #EAF6F1; border-left: 4px solid #009E73; padding: 8px 12px; margin: 10px 0; }}
.figure svg {{ max-width: 100%; height: auto; }}
.faded {{ color: #8A8A8A; }}
@media print {{ body {{ background: white; }} main {{ padding: 0; }} }}
"""


def esc(text: object) -> str:
    """Any text as HTML content or a quoted attribute value: &, <, >, " and ' escaped."""
    return html.escape(str(text), quote=True)


def number(value: object, digits: int = 2) -> str:
    """A measure as shown in a table: fixed digits, "—" when it was not measured."""
    if value is None:
        return "—"
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return esc(value)
    return "—" if math.isnan(x) else f"{x:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """An HTML table; every cell is text (escaped here). `numeric`: column positions aligned right."""
    right = set(numeric)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{esc(c)}</td>' if k in right else f"<td>{esc(c)}</td>"
            for k, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def paragraph(text: str, kind: str = "") -> str:
    """Escaped text as a paragraph; kind "warn" or "ok" makes it a coloured box, "note" small grey text."""
    if kind in ("warn", "ok"):
        return f'<div class="{kind}">{esc(text)}</div>'
    return f'<p class="{kind}">{esc(text)}</p>' if kind else f"<p>{esc(text)}</p>"


def bullets(items: Sequence[str]) -> str:
    """Escaped text items as a list."""
    return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>"


def section(anchor: str, heading: str, body: str) -> str:
    """A titled section; `body` is markup already built (escaped) by the helpers above."""
    return f'<section id="{esc(anchor)}">\n<h2>{esc(heading)}</h2>\n{body}\n</section>'


def report_page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document: title, a line under it, a table of contents and each (anchor, heading, body)."""
    links = "".join(f'<a href="#{esc(a)}">{esc(h)}</a>' for a, h, _ in sections)
    parts = "\n".join(section(a, h, b) for a, h, b in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="generator" content="{esc(GENERATOR)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<h1>{esc(title)}</h1>\n<p class="meta">{esc(subtitle)}</p>\n<nav>{links}</nav>\n'
        f"{parts}\n</main>\n</body>\n</html>\n"
    )
