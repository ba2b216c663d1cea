"""Colour-blind-safe colours for modalities (Okabe-Ito), assigned by order so a modality keeps its colour."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Okabe & Ito (2008), reordered so the first colours have the most contrast on white; yellow is last because it
# is hard to read as text or thin lines on a white page.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
)
# Beyond seven modalities colours repeat in darker shades, so no two of the first fourteen are identical.
COVARIATE_COLOUR = "#8C8C8C"
NEUTRAL_DARK = "#2B3A4A"  # edges, dots and text that carry no modality
NEUTRAL_LIGHT = "#D9DDE2"  # absent / background marks
# Plotly figures follow the dashboard's light or dark theme, so their marks without a modality must read on both:
# a mid grey with contrast >= 4 on white and on the dark background, and a see-through grey for marks that
# should recede (pale on white, dim on dark).
NEUTRAL_MARK = "#76808C"
FAINT_MARK = "rgba(118,128,140,0.3)"
INCREASE_COLOUR = "#0072B2"
DECREASE_COLOUR = "#D55E00"
SEQUENTIAL_SCALE = "Viridis"  # perceptually uniform and colour-blind safe: latent values along a traversal
# Fonts live here too so the network page (pyvis only) shares them without importing plotly.
FONT_FAMILY = "Inter, 'Segoe UI', system-ui, -apple-system, Roboto, 'Helvetica Neue', Arial, sans-serif"
TEXT_COLOUR = "#1F2933"


def unique_in_order(items: Iterable[str]) -> list[str]:
    """Distinct items in first-appearance order (the order that fixes colours)."""
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(str(item), None)
    return list(seen)


def modality_colour(index: int) -> str:
    """The colour of the `index`-th modality (0-based); cycles in darker shades after seven."""
    base = OKABE_ITO[index % len(OKABE_ITO)]
    rounds = index // len(OKABE_ITO)
    return base if rounds == 0 else darker(base, 0.75**rounds)


def modality_colours(modalities: Iterable[str]) -> dict[str, str]:
    """Modality name -> hex colour, by first appearance, so the same cohort always gets the same colours."""
    return {name: modality_colour(i) for i, name in enumerate(unique_in_order(modalities))}


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """'#RRGGBB' -> (r, g, b) in 0-255."""
    c = colour.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def rgb_to_hex(rgb: Sequence[float]) -> str:
    """(r, g, b) in 0-255 -> '#RRGGBB' (clipped)."""
    return "#" + "".join(f"{int(round(min(255.0, max(0.0, float(v))))):02X}" for v in rgb[:3])


def rgba(colour: str, alpha: float) -> str:
    """A CSS rgba() string for a hex colour with the given opacity."""
    r, g, b = hex_to_rgb(colour)
    return f"rgba({r},{g},{b},{min(1.0, max(0.0, alpha)):.3f})"


def darker(colour: str, factor: float = 0.7) -> str:
    """The colour scaled towards black (factor 1 = unchanged): borders and highlights."""
    return rgb_to_hex([v * factor for v in hex_to_rgb(colour)])


def lighter(colour: str, amount: float = 0.5) -> str:
    """The colour mixed with white (amount 0 = unchanged, 1 = white): fills behind lines."""
    return mix(colour, "#FFFFFF", amount)


def mix(colour: str, other: str, amount: float) -> str:
    """`colour` moved towards `other` (amount 0 = unchanged, 1 = `other`): a mark faded into its background,
    which on a dark page means towards dark, not towards white."""
    a = min(1.0, max(0.0, float(amount)))
    return rgb_to_hex([u + (v - u) * a for u, v in zip(hex_to_rgb(colour), hex_to_rgb(other), strict=True)])


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a hex colour: 0 for black, 1 for white."""

    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in hex_to_rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(colour: str, background: str) -> float:
    """WCAG 2 contrast ratio, 1 to 21: text wants 4.5 or more, lines and marks 3 or more."""
    a, b = sorted((relative_luminance(colour), relative_luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def fade_scale(colour: str, floor: float = 0.12) -> list[list]:
    """A plotly colour scale from nearly see-through to solid `colour`: weak values recede into the page and
    strong ones stand out on a light and a dark page alike (an opaque scale such as Blues ends in navy, which
    vanishes on a dark page)."""
    return [[0.0, rgba(colour, floor)], [1.0, rgba(colour, 1.0)]]


def diverging_fade_scale(negative: str, positive: str, floor: float = 0.12) -> list[list]:
    """`fade_scale` both ways from zero (the scale's middle): solid `negative` at the bottom, solid `positive`
    at the top, nearly see-through near zero."""
    return [
        [0.0, rgba(negative, 1.0)],
        [0.5, rgba(negative, floor)],
        [0.5, rgba(positive, floor)],
        [1.0, rgba(positive, 1.0)],
    ]


def text_colour_on(colour: str) -> str:
    """Black or white, whichever reads better on `colour` (WCAG relative luminance)."""
    return "#000000" if relative_luminance(colour) > 0.179 else "#FFFFFF"
