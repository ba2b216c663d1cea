"""The latent graph's light and dark looks: the network page follows the viewer's prefers-color-scheme.

vis-network draws on a canvas that CSS cannot recolour, so every node and link carries its dark colours beside
its light ones (`crlDark`) and the page's script picks one set before drawing (crl/viz/network.py). Everything
outside the canvas (page, frame, legend, hover box) switches with a CSS media query. The dark page matches
Streamlit's dark background, so the frame reads as part of the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

from crl.viz.palette import (
    COVARIATE_COLOUR,
    FONT_FAMILY,
    NEUTRAL_DARK,
    TEXT_COLOUR,
    darker,
    lighter,
    mix,
    rgba,
)


@dataclass(frozen=True)
class Scheme:
    """The colours one look gives the marks that carry no modality."""

    dark: bool
    page: str  # the frame's background
    text: str  # labels, legend and hover text
    muted: str  # secondary text: the legend's link count, labels of latents not to be interpreted
    frame: str  # the canvas border
    surface: str  # boxes on the page: clinical variables, the hover box
    surface_hover: str
    outline: str  # a selected node's border or link: the most contrast the page allows
    positive: str  # a link that raises its effect
    negative: str  # a link that lowers its effect: red, and far from `positive` in lightness too


LIGHT = Scheme(
    dark=False,
    page="#FFFFFF",
    text=TEXT_COLOUR,
    muted="#616E7C",
    frame="#E4E7EB",
    surface="#F2F2F2",
    surface_hover="#E6E6E6",
    outline="#000000",
    positive=NEUTRAL_DARK,
    negative="#B2182B",
)
DARK = Scheme(
    dark=True,
    page="#171614",  # Streamlit's dark background
    text="#EDEBE8",  # Streamlit's dark text
    muted="#A9A5A0",
    frame="#3A3835",
    surface="#2D2B27",
    surface_hover="#3D3A35",
    outline="#FFFFFF",
    positive="#C9CED4",
    negative="#F4737D",
)


def node_colours(colour: str, scheme: Scheme, *, block: bool = False, faded: bool = False) -> dict:
    """vis-network's colour object for a latent of modality colour `colour`.

    A block-identified latent is paler; one not to be interpreted is washed out into the page, so the eye passes
    over it: towards white on a light page, towards the dark background on a dark one.
    """
    background = mix(colour, scheme.page, 0.55) if block else colour
    if faded:
        background, colour = mix(colour, scheme.page, 0.85), mix(colour, scheme.page, 0.5)
    return {
        "background": background,
        "border": rim(colour, scheme),
        "highlight": {"background": lighter(colour, 0.25), "border": scheme.outline},
        "hover": {"background": lighter(colour, 0.25), "border": rim(colour, scheme, strong=True)},
    }


def rim(colour: str, scheme: Scheme, *, strong: bool = False) -> str:
    """A node's border: darker than its fill on a light page, lighter on a dark one, so it stands off both."""
    if scheme.dark:
        return lighter(colour, 0.5 if strong else 0.3)
    return darker(colour, 0.5 if strong else 0.7)


def caption_colour(colour: str, scheme: Scheme) -> str:
    """A modality's caption on the canvas: its colour, shaded to read as text on the page."""
    return lighter(colour, 0.3) if scheme.dark else darker(colour, 0.8)


def faded_label(scheme: Scheme) -> str:
    """The label of a latent not to be interpreted: readable, but quieter than the others."""
    return "#858079" if scheme.dark else "#8A949E"


def edge_colours(value: float, strength: float, scheme: Scheme) -> dict:
    """A causal link's colour object: negative effects red; weaker links fainter."""
    base = scheme.positive if value > 0 else scheme.negative
    return {"color": rgba(base, 0.3 + 0.65 * strength), "highlight": scheme.outline, "hover": base}


def covariate_colours(scheme: Scheme) -> dict:
    """A clinical variable's box."""
    return {
        "background": scheme.surface,
        "border": COVARIATE_COLOUR,
        "highlight": {"background": scheme.surface_hover, "border": scheme.outline},
        "hover": {"background": scheme.surface_hover, "border": rim(COVARIATE_COLOUR, scheme)},
    }


def label_font(scheme: Scheme) -> dict:
    """vis-network's node font: a box of page colour behind each name, so links under a label do not strike
    through its words."""
    return {
        "face": FONT_FAMILY,
        "size": 15,
        "color": scheme.text,
        "strokeWidth": 3,
        "strokeColor": scheme.page,
        "background": rgba(scheme.page, 0.85),
    }


def _colour_css(s: Scheme) -> str:
    faded = node_colours(NEUTRAL_DARK, s, faded=True)
    return f"""
body {{ background: {s.page}; color: {s.text}; }}
#mynetwork {{ border-color: {s.frame}; background: {s.page}; }}
.crl-legend span.box {{ background: {s.surface}; }}
.crl-legend span.dashed {{ background: {s.page}; border-color: {s.muted}; }}
.crl-legend span.faded {{ background: {faded["background"]}; border-color: {faded["border"]}; }}
.crl-legend span.hint {{ color: {s.muted}; }}
div.vis-tooltip {{ color: {s.text}; background: {s.surface if s.dark else s.page}; border-color: {s.frame}; }}
"""


def page_css(legend_height: int) -> str:
    """The network page's CSS: layout once, colours for the light look and, under a dark preference, the dark."""
    return f"""
:root {{ color-scheme: light dark; }}
body {{ margin: 0; font-family: {FONT_FAMILY}; }}
#mynetwork {{ float: none; border: 1px solid; border-radius: 6px; box-sizing: border-box; }}
.card {{ width: 100%; background: transparent; }}
.crl-legend {{ display: flex; align-items: center; height: {legend_height}px; white-space: nowrap;
  overflow-x: auto; overflow-y: hidden; font-size: 13px; padding: 0 6px; box-sizing: border-box;
  scrollbar-width: none; }}
.crl-legend span.item {{ margin-right: 16px; flex: none; }}
.crl-legend span.swatch {{ display: inline-block; width: 12px; height: 12px; border-radius: 50%;
  vertical-align: -1px; margin-right: 5px; border: 2px solid transparent; box-sizing: border-box; }}
.crl-legend span.box {{ border-radius: 2px; border: 1.5px solid {COVARIATE_COLOUR}; }}
.crl-legend span.dashed {{ border: 2px dashed; }}
.crl-legend span.faded {{ border: 2px solid; }}
.crl-legend span.hint {{ margin-left: auto; padding-left: 12px; flex: none; }}
div.vis-tooltip {{ font-family: {FONT_FAMILY}; font-size: 13px; border: 1px solid; border-radius: 4px;
  padding: 8px 10px; white-space: normal; max-width: 340px; box-shadow: 0 2px 8px rgba(0, 0, 0, 0.12); }}
{_colour_css(LIGHT)}
@media (prefers-color-scheme: dark) {{
{_colour_css(DARK)}
}}
"""


# Read once, before the nodes are built; a change of the OS setting redraws the page in the other look.
SCHEME_JS = (
    "var crlDarkScheme = !!(window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches);"
    " if (window.matchMedia) { var crlSchemeQuery = window.matchMedia('(prefers-color-scheme: dark)');"
    " if (crlSchemeQuery.addEventListener) { crlSchemeQuery.addEventListener('change',"
    " function () { location.reload(); }); } }"
)
