"""The latent causal graph as a self-contained, offline vis-network page with a fixed, deterministic layout.

The page comes from pyvis's own template rendered once (vis-network inlined, Bootstrap links removed) and is
cached as text; each redraw only substitutes the nodes, edges and options as JSON, so a threshold slider can
redraw in about a millisecond instead of re-reading 700 kB of JavaScript through Jinja.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np

from crl.viz.layout import captions_below, covariate_positions, network_layout
from crl.viz.network_theme import (
    DARK,
    LIGHT,
    SCHEME_JS,
    caption_colour,
    covariate_colours,
    edge_colours,
    faded_label,
    label_font,
    node_colours,
    page_css,
)
from crl.viz.palette import COVARIATE_COLOUR, darker, modality_colours, rgba

LEGEND_HEIGHT = 32  # px; one line (a wrapped legend takes its extra lines from the canvas: _LEGEND_FIT_JS)
_IFRAME_SLACK = 26  # px; border and rounding, so the bottom of the canvas is never clipped
_MARKER = re.compile(r"__CRL_(HEIGHT|LEGEND|NODES|EDGES|OPTIONS)__")

LatentRef = str | int


def network_height(height: int = 620) -> int:
    """The iframe height (px) that shows a `latent_network_html(..., height=height)` page without clipping."""
    return int(height) + LEGEND_HEIGHT + _IFRAME_SLACK


@functools.lru_cache(maxsize=1)
def _template_parts() -> tuple[str, ...]:
    """pyvis's in-line page split into literal text and field names (alternating), built once per process."""
    from pyvis.network import Network  # lazy: only pages that draw the graph pay for pyvis

    net = Network(height="__CRL_HEIGHT__", width="100%", directed=True, cdn_resources="in_line")
    net.toggle_physics(False)
    page = net.generate_html()
    # Bootstrap is only used by pyvis's filter menus, which we do not show; its tags would fetch from the web.
    page = re.sub(r"<link[^>]*bootstrap[^>]*>", "", page, flags=re.S)
    page = re.sub(r"<script[^>]*bootstrap[^>]*>\s*</script>", "", page, flags=re.S)
    page = re.sub(r"<!--\s*<link.*?-->", "", page, flags=re.S)
    page = re.sub(r"<center>\s*<h1>\s*</h1>\s*</center>", "", page)
    # Icons of the navigation/editing buttons, which we leave off: 200 kB of every redraw otherwise.
    page = re.sub(r'url\("data:image/png;base64,[A-Za-z0-9+/=]+"\)', "none", page)
    replacements = {
        "nodes = new vis.DataSet([]);": _TOOLTIP_JS + "nodes = new vis.DataSet(crlTooltips(__CRL_NODES__));",
        "edges = new vis.DataSet([]);": "edges = new vis.DataSet(crlTooltips(__CRL_EDGES__));",
        '<div class="card" style="width: 100%">': '<div class="card" style="width: 100%">__CRL_LEGEND__',
        "</head>": f"<style>{page_css(LEGEND_HEIGHT)}</style>\n<script>{SCHEME_JS}</script>\n</head>",
        "</body>": "<script>" + _LEGEND_FIT_JS + "</script>\n</body>",
    }
    for old, new in replacements.items():
        if page.count(old) != 1:
            raise RuntimeError(
                f"pyvis's page template changed (expected one {old!r}); update crl/viz/network.py"
            )
        page = page.replace(old, new)
    dark_font = "if (crlDarkScheme) { options.nodes.font = " + _script_json(label_font(DARK)) + "; }"
    page = re.sub(
        r"var options = \{.*?\n\};",
        lambda _: "var options = __CRL_OPTIONS__; " + dark_font,
        page,
        count=1,
        flags=re.S,
    )
    if "__CRL_OPTIONS__" not in page:
        raise RuntimeError("pyvis's page template changed (no options block); update crl/viz/network.py")
    if _OUTSIDE_REFERENCE.search(page):
        raise RuntimeError("pyvis's page still references an outside resource; update crl/viz/network.py")
    return tuple(_MARKER.split("<!DOCTYPE html>\n" + page))


# A narrow frame (a small window, 150 % browser zoom, a side-by-side view) would cut the legend's right end, its
# link count included: the legend's font shrinks until it fits, down to 10 px; if even that is too wide it wraps
# onto more lines and the canvas gives up their height, so the frame's height still holds everything; the view
# is fitted again to the canvas it ends up with.
_LEGEND_FIT_JS = (
    "function crlFitLegend() { var l = document.querySelector('.crl-legend');"
    " var c = document.getElementById('mynetwork'); if (!l || !c) { return; }"
    " if (c.dataset.crlHeight === undefined) { c.dataset.crlHeight = c.offsetHeight; }"
    " var size = 13; l.style.fontSize = size + 'px'; l.style.flexWrap = 'nowrap'; l.style.height = '';"
    " c.style.height = c.dataset.crlHeight + 'px';"
    " while (l.scrollWidth > l.clientWidth && size > 10) { size -= 0.5; l.style.fontSize = size + 'px'; }"
    " if (l.scrollWidth > l.clientWidth) { var before = l.offsetHeight; l.style.flexWrap = 'wrap';"
    " l.style.height = 'auto'; c.style.height = (c.dataset.crlHeight - (l.offsetHeight - before)) + 'px'; }"
    " if (typeof network !== 'undefined' && network.fit) { network.redraw(); network.fit(); } }"
    " crlFitLegend(); window.addEventListener('resize', crlFitLegend);"
)

# A string title is shown as plain text by vis-network 9; wrapping it in an element renders our markup.
# Every user-supplied piece of a title is html-escaped before it gets here. An item's dark colours (crlDark)
# replace its light ones under a dark preference (crl/viz/network_theme.py).
_TOOLTIP_JS = (
    "function crlTooltips(items) { items.forEach(function (item) {"
    " if (item.crlDark) { if (crlDarkScheme) { Object.assign(item, item.crlDark); } delete item.crlDark; }"
    " if (typeof item.title === 'string') {"
    " var box = document.createElement('div'); box.innerHTML = item.title; item.title = box; } });"
    " return items; }\n                  "
)

# A src/href/url()/@import that reaches a host: what would make the page fetch from outside.
_OUTSIDE_REFERENCE = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import)""",
    re.I,
)


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element: no '<', '>' or '&' can close or confuse the tag."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# Text that vis-network's 'html' font mode draws exactly as written: that mode reads <b>, <i> and <code> as
# markup, collapses runs of spaces, and meets '&' by compiling the whole label into a regular expression
# (vis-network 9.1, Label.splitHtmlBlocks): "[ref & co", or "dose (<5 mg" with its '<' escaped as '&lt;',
# threw "Invalid regular expression" and blanked the graph.
_HTML_MODE_SAFE = re.compile(r"[^&<\s]+(?: [^&<\s]+)*")


def _caption(text: str, colour: str) -> tuple[str, dict]:
    """A bold canvas caption: label and font. Bold needs the html font mode, so a name that mode would misread
    is drawn in the plain mode, which shows any text as it is, thickened by a stroke of its own colour."""
    font = {"size": 17, "color": colour}
    if _HTML_MODE_SAFE.fullmatch(text):
        return f"<b>{text}</b>", {**font, "multi": "html"}
    return text, {**font, "strokeWidth": 0.8, "strokeColor": colour}


def _label_lines(text: str) -> int:
    """How many lines vis-network draws a plain label on (it breaks at \\n, \\r\\n and \\r)."""
    return len(re.split(r"\r\n|\r|\n", text))


def _hover(lines: Iterable[str]) -> str:
    return "<br>".join(line for line in lines if line)


def _escape_lines(text: str) -> str:
    return "<br>".join(html.escape(line) for line in str(text).splitlines())


def _as_list(value: Sequence[str] | Mapping | None, names: Sequence[str], what: str) -> list:
    """A per-latent value given as a sequence aligned with `names` or a mapping keyed by name or index."""
    d = len(names)
    if value is None:
        return [None] * d
    if isinstance(value, Mapping):
        return [value.get(names[i], value.get(i)) for i in range(d)]
    out = list(value)
    if len(out) != d:
        raise ValueError(f"{what} has {len(out)} entries but there are {d} latents")
    return out


def _resolve(ref: LatentRef, names: Sequence[str], lookup: dict[str, int]) -> int:
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        if not 0 <= int(ref) < len(names):
            raise ValueError(f"latent index {ref} is out of range for {len(names)} latents")
        return int(ref)
    if str(ref) in lookup:
        return lookup[str(ref)]
    raise ValueError(f"no latent is called {ref!r}; use one of the names passed in or its index")


def _format_weight(w: float) -> str:
    return f"{w:.3f}" if abs(w) >= 0.001 or w == 0 else f"{w:.1e}"


def latent_network_html(
    names: Sequence[str],
    modality_of: Sequence[str] | Mapping[str, str],
    weights: np.ndarray,
    threshold: float,
    *,
    positions: np.ndarray | None = None,
    cross_modal_only: bool = False,
    node_details: Sequence[str | None] | Mapping[LatentRef, str] | None = None,
    block_only: Collection[LatentRef] = frozenset(),
    covariate_edges: Iterable[tuple[str, LatentRef, float]] = (),
    weak: Mapping[LatentRef, str] | None = None,
    edge_notes: Mapping[tuple[LatentRef, LatentRef], str] | None = None,
    uncertain_edges: Collection[tuple[LatentRef, LatentRef]] = frozenset(),
    height: int = 620,
    weight_label: str = "Strength",
) -> str:
    """A self-contained HTML page (vis-network inlined, no outside requests) drawing the latent graph.

    names: display names `(d,)`, drawn as labels exactly as written (any text: the canvas parses no markup).
    modality_of: each latent's modality, `(d,)` aligned with names, or a mapping name -> modality.
    weights: `(d, d)`, weights[i, j] = strength of the edge i -> j (source row, target column); an edge is
        drawn when |weight| >= threshold (and is not zero); the diagonal is ignored.
    positions: `(d, 2)` node positions; default `network_layout(modality_of)`, which ignores the weights.
    cross_modal_only: hide edges between two latents of the same modality.
    node_details: extra hover text per latent (e.g. the observed features it drives most); newlines kept.
    block_only: latents (names or indices) identified only as part of their modality's block: dashed border.
    covariate_edges: (clinical variable name, latent name or index, link strength) drawn as grey boxes
        linked to latents; these links are shown whatever the threshold (they come from their own test).
    weak: latent -> why it should not be interpreted (e.g. low stability across restarts): drawn faded, the
        reason first in its hover text.
    edge_notes: (source, target) -> extra hover lines for that link (e.g. how often restarts found it, its effect).
    uncertain_edges: links drawn faint (e.g. found in few restarts); their hover text says why in edge_notes.
    height: canvas height in px; show the page in an iframe of `network_height(height)` px.
    weight_label: what the weights are, as the link hover names them (e.g. "Effect, SD per SD").
    """
    names = [str(n) for n in names]
    d = len(names)
    w = np.nan_to_num(np.asarray(weights, dtype=float), nan=0.0)
    if w.shape != (d, d):
        raise ValueError(f"weights must have shape ({d}, {d}) to match the {d} names, got {w.shape}")
    modalities = [str(m) for m in _as_list(modality_of, names, "modality_of")]
    if any(m == "None" for m in modalities):
        missing = [names[i] for i, m in enumerate(modalities) if m == "None"]
        raise ValueError(f"no modality given for latent(s) {missing}")
    colours = modality_colours(modalities)
    lookup: dict[str, int] = {}
    for i, n in enumerate(names):
        lookup.setdefault(n, i)
    block = {_resolve(ref, names, lookup) for ref in block_only}
    faded = {_resolve(ref, names, lookup): reason for ref, reason in (weak or {}).items()}
    notes = {
        (_resolve(a, names, lookup), _resolve(b, names, lookup)): text
        for (a, b), text in (edge_notes or {}).items()
    }
    faint = {(_resolve(a, names, lookup), _resolve(b, names, lookup)) for a, b in uncertain_edges}
    details = _as_list(node_details, names, "node_details")

    xy = network_layout(modalities) if positions is None else np.asarray(positions, dtype=float)
    if xy.shape != (d, 2):
        raise ValueError(f"positions must have shape ({d}, 2), got {xy.shape}")

    nodes: list[dict] = []
    for i, name in enumerate(names):
        colour = colours[modalities[i]]
        is_block = i in block
        looks = {"block": is_block, "faded": i in faded}  # faded: not to be interpreted, washed out
        node = {
            "id": i,
            "label": name,  # vis-network's plain font mode draws any text as it is
            "x": float(xy[i, 0]),
            "y": float(xy[i, 1]),
            "shape": "dot",
            "size": 16,
            "borderWidth": 3 if is_block else 2,
            "borderWidthSelected": 4,
            "color": node_colours(colour, LIGHT, **looks),
            "crlDark": {"color": node_colours(colour, DARK, **looks)},
            "title": _hover(
                [
                    f"<b>{html.escape(name)}</b>",
                    f"<b>⚠ {_escape_lines(faded[i])}</b>" if i in faded else "",
                    f"Modality: {html.escape(modalities[i])}",
                    _escape_lines(details[i]) if details[i] else "",
                    (
                        "<i>Identified only together with the other latents of this modality "
                        "(as a block), not on its own.</i>"
                        if is_block
                        else ""
                    ),
                ]
            ),
        }
        if is_block:
            node["shapeProperties"] = {"borderDashes": [3, 3]}
        if i in faded:
            node["font"] = {"color": faded_label(LIGHT)}
            node["crlDark"]["font"] = {"color": faded_label(DARK)}
        nodes.append(node)

    # Modality names as captions beside each cluster, for slides where the legend is out of view.
    below_of = captions_below(xy, modalities)
    for g, modality in enumerate(colours):
        members = [i for i in range(d) if modalities[i] == modality]
        below = below_of[modality]
        # Below a cluster the caption clears the labels of its lowest nodes, which may wrap onto two lines.
        lowest = [i for i in members if xy[i, 1] >= xy[members, 1].max() - 1.0]
        label_lines = max(_label_lines(names[i]) for i in lowest)
        caption, font = _caption(modality, caption_colour(colours[modality], LIGHT))
        dark_font = _caption(modality, caption_colour(colours[modality], DARK))[1]
        nodes.append(
            {
                "id": f"modality:{g}",
                "label": caption,
                "x": float(xy[members, 0].mean()),
                # On the outer side of the cluster, where no edges run.
                "y": float(xy[members, 1].max()) + 44.0 + 18.0 * label_lines
                if below
                else float(xy[members, 1].min()) - 48.0,
                "shape": "text",
                "font": font,
                "crlDark": {"font": dark_font},
                "chosen": False,
            }
        )

    scale = float(np.abs(w[~np.eye(d, dtype=bool)]).max()) if d > 1 else 0.0
    edges: list[dict] = []
    candidates = 0
    for i in range(d):
        for j in range(d):
            if i == j or (cross_modal_only and modalities[i] == modalities[j]):
                continue
            value = float(w[i, j])
            if value != 0.0:
                candidates += 1
            if value == 0.0 or abs(value) < threshold:
                continue
            strength = abs(value) / scale if scale > 0 else 1.0
            if (i, j) in faint or i in faded or j in faded:
                strength = min(strength, 0.15)  # drawn, but as a hint, not a finding
            across = modalities[i] != modalities[j]
            edges.append(
                {
                    "id": f"edge:{i}:{j}",
                    "from": i,
                    "to": j,
                    "arrows": {"to": {"enabled": True, "scaleFactor": 0.55 + 0.35 * strength}},
                    "width": round(1.0 + 5.0 * strength, 2),
                    "color": edge_colours(value, strength, LIGHT),
                    "crlDark": {"color": edge_colours(value, strength, DARK)},
                    "title": _hover(
                        [
                            f"<b>{html.escape(names[i])}</b> → <b>{html.escape(names[j])}</b>",
                            f"{html.escape(weight_label)}: {_format_weight(value)}"
                            + (" (negative)" if value < 0 else ""),
                            (
                                f"Across modalities: {html.escape(modalities[i])} → {html.escape(modalities[j])}"
                                if across
                                else f"Within {html.escape(modalities[i])}"
                            ),
                            _escape_lines(notes[(i, j)]) if (i, j) in notes else "",
                        ]
                    ),
                }
            )

    covariate_list = [(str(c), _resolve(ref, names, lookup), float(s)) for c, ref, s in covariate_edges]
    covariates = list(dict.fromkeys(c for c, _, _ in covariate_list))
    linked = [sorted({i for c2, i, _ in covariate_list if c2 == c}) for c in covariates]
    cov_xy = covariate_positions(xy, linked)
    cov_id = {c: f"covariate:{k}" for k, c in enumerate(covariates)}
    for k, c in enumerate(covariates):
        nodes.append(
            {
                "id": cov_id[c],
                "label": c,
                "x": float(cov_xy[k, 0]),
                "y": float(cov_xy[k, 1]),
                "shape": "box",
                "margin": 8,
                "borderWidth": 1.5,
                "color": covariate_colours(LIGHT),
                "font": {"color": LIGHT.text},
                "crlDark": {"color": covariate_colours(DARK), "font": {"color": DARK.text}},
                "title": f"<b>{html.escape(c)}</b><br>Observed clinical variable (measured, not learned)",
            }
        )
    cov_scale = max((abs(s) for _, _, s in covariate_list), default=0.0)
    for c, i, s in covariate_list:
        strength = abs(s) / cov_scale if cov_scale > 0 else 1.0
        grey = rgba(COVARIATE_COLOUR, 0.45 + 0.5 * strength)  # reads on a light and a dark page alike
        edges.append(
            {
                "id": f"link:{cov_id[c]}:{i}",
                "from": cov_id[c],
                "to": i,
                # Grey, straight and without arrow heads tells them from causal links. Not dashed: vis-network
                # then draws the dashed borders of block-identified latents nearly solid.
                "arrows": {"to": {"enabled": False}},
                "smooth": False,
                "width": round(1.0 + 3.0 * strength, 2),
                "color": {"color": grey, "highlight": LIGHT.outline},
                "crlDark": {"color": {"color": grey, "highlight": DARK.outline}},
                "title": f"<b>{html.escape(c)}</b> — <b>{html.escape(names[i])}</b><br>"
                f"Link strength: {_format_weight(s)}",
            }
        )

    legend = _legend_html(
        colours,
        has_block=bool(block),
        has_weak=bool(faded),
        has_covariates=bool(covariates),
        shown=sum(1 for e in edges if str(e["id"]).startswith("edge:")),
        candidates=candidates,
        threshold=threshold,
    )
    values = {
        "HEIGHT": f"{int(height)}px",
        "LEGEND": legend,
        "NODES": _script_json(nodes),
        "EDGES": _script_json(edges),
        "OPTIONS": _script_json(_OPTIONS),
    }
    parts = _template_parts()
    return "".join(values[p] if k % 2 else p for k, p in enumerate(parts))


def _legend_html(
    colours: Mapping[str, str],
    *,
    has_block: bool,
    has_covariates: bool,
    shown: int,
    has_weak: bool = False,
    candidates: int,
    threshold: float,
) -> str:
    items = [
        f'<span class="item"><span class="swatch" style="background:{c};border-color:{darker(c, 0.7)}"></span>'
        f"{html.escape(m)}</span>"
        for m, c in colours.items()
    ]
    if has_covariates:
        items.append('<span class="item"><span class="swatch box"></span>clinical variable</span>')
    if has_block:
        items.append(
            '<span class="item"><span class="swatch dashed"></span>identified only as a block</span>'
        )
    if has_weak:
        items.append('<span class="item"><span class="swatch faded"></span>not reliably recovered</span>')
    hint = (
        '<span class="hint" title="Arrows point from cause to effect; thicker lines are stronger links.">'
        f"{shown} of {candidates} links ≥ {html.escape(f'{threshold:g}')}</span>"
    )
    return f'<div class="crl-legend">{"".join(items)}{hint}</div>'


_OPTIONS = {
    "autoResize": True,
    "physics": {"enabled": False},
    "layout": {"improvedLayout": False, "randomSeed": 0},
    "interaction": {
        "hover": True,
        "tooltipDelay": 80,
        "dragNodes": True,
        "zoomView": True,
        "navigationButtons": False,
        "keyboard": False,
    },
    "nodes": {"font": label_font(LIGHT)},
    "edges": {
        "smooth": {"enabled": True, "type": "curvedCW", "roundness": 0.12},
        "arrowStrikethrough": False,
        "selectionWidth": 1.5,
        "hoverWidth": 0.5,
    },
}
