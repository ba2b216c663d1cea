"""Light and dark: the colour helpers, the contrast of the colours each look uses, the network page's two colour
sets, the figures' themed text and the dashboard's theme config."""

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from crl.viz.heatmap import adjacency_heatmap
from crl.viz.network import latent_network_html
from crl.viz.network_theme import DARK, LIGHT, edge_colours, faded_label, node_colours, page_css
from crl.viz.palette import (
    FAINT_MARK,
    NEUTRAL_MARK,
    OKABE_ITO,
    contrast_ratio,
    diverging_fade_scale,
    fade_scale,
    lighter,
    mix,
    relative_luminance,
)
from crl.viz.previews import overlap_figure
from crl.viz.style import THEMED_TEXT, apply_style

ROOT = Path(__file__).resolve().parents[1]


def test_luminance_and_contrast_follow_wcag():
    assert relative_luminance("#000000") == 0.0 and relative_luminance("#FFFFFF") == pytest.approx(1.0)
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast_ratio("#FFFFFF", "#000000") == contrast_ratio("#000000", "#FFFFFF")  # order-free
    assert contrast_ratio("#0072B2", "#0072B2") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)  # WCAG's own example grey


def test_mix_moves_towards_the_other_colour_and_clips():
    assert mix("#0072B2", "#171614", 0.0) == "#0072B2"
    assert mix("#0072B2", "#171614", 1.0) == "#171614"
    assert mix("#000000", "#FFFFFF", 0.5) == "#808080"
    assert mix("#0072B2", "#FFFFFF", 2.0) == "#FFFFFF"  # amounts outside 0-1 are clipped
    assert lighter("#0072B2", 0.55) == mix("#0072B2", "#FFFFFF", 0.55)  # lighter is a mix with white


def test_fade_scales_run_from_see_through_to_solid():
    scale = fade_scale("#0072B2")
    assert scale[0] == [0.0, "rgba(0,114,178,0.120)"] and scale[-1] == [1.0, "rgba(0,114,178,1.000)"]
    diverging = diverging_fade_scale("#D55E00", "#0072B2")
    assert [stop for stop, _ in diverging] == [0.0, 0.5, 0.5, 1.0]
    assert diverging[0][1].startswith("rgba(213,94,0,1.0") and diverging[-1][1].startswith(
        "rgba(0,114,178,1.0"
    )
    assert all(colour.endswith("0.120)") for _, colour in diverging[1:3])  # near zero: nearly see-through


def test_adjacency_matrix_uses_see_through_scales():
    """Blues and RdBu end in navy and dark red, which vanish on a dark page; the fade scales do not."""
    w = np.array([[0.0, 0.8], [0.3, 0.0]])
    unsigned = adjacency_heatmap(["a", "b"], w, ["m", "m"], 0.1).data[0]
    assert unsigned.colorscale[0][1].startswith("rgba(") and unsigned.colorscale[-1][1].endswith("1.000)")
    signed = adjacency_heatmap(["a", "b"], -w, ["m", "m"], 0.1).data[0]
    assert len(signed.colorscale) == 4 and signed.zmid == 0.0


@pytest.mark.parametrize("page", [LIGHT.page, DARK.page])
def test_neutral_marks_read_on_both_pages(page):
    assert contrast_ratio(NEUTRAL_MARK, page) >= 4.0
    assert FAINT_MARK.startswith("rgba(") and float(FAINT_MARK.rstrip(")").split(",")[-1]) < 0.5


@pytest.mark.parametrize("scheme", [LIGHT, DARK], ids=["light", "dark"])
def test_network_text_and_links_read_on_their_page(scheme):
    assert contrast_ratio(scheme.text, scheme.page) >= 7.0
    assert contrast_ratio(scheme.muted, scheme.page) >= 4.5  # the legend's link count
    assert 3.0 <= contrast_ratio(faded_label(scheme), scheme.page) < contrast_ratio(scheme.text, scheme.page)
    for base in (scheme.positive, scheme.negative):
        assert contrast_ratio(base, scheme.page) >= 2.5
    # Negative links stay apart from positive ones in lightness too, not only in hue (colour-blind readers).
    assert contrast_ratio(scheme.positive, scheme.negative) >= 1.5
    assert edge_colours(-1.0, 1.0, scheme)["hover"] == scheme.negative
    assert edge_colours(1.0, 1.0, scheme)["hover"] == scheme.positive


@pytest.mark.parametrize("colour", OKABE_ITO[:6])
def test_dark_nodes_stand_out_and_faded_ones_recede(colour):
    """On the dark page a latent's fill stands off the background; one not to be interpreted sinks into it."""
    normal = node_colours(colour, DARK)
    faded = node_colours(colour, DARK, faded=True)
    assert contrast_ratio(normal["background"], DARK.page) >= 3.0
    assert contrast_ratio(faded["background"], DARK.page) < 1.5
    assert contrast_ratio(faded["border"], DARK.page) < contrast_ratio(normal["border"], DARK.page)
    # Its light counterpart fades towards white, as it always has.
    assert node_colours(colour, LIGHT, faded=True)["background"] == lighter(colour, 0.85)


def _dataset(page: str, which: str) -> list[dict]:
    match = re.search(which + r" = new vis\.DataSet\(crlTooltips\((.*?)\)\);", page, flags=re.S)
    assert match
    return json.loads(match.group(1))


def test_network_page_carries_both_looks():
    w = np.zeros((3, 3))
    w[0, 1], w[1, 2] = 0.9, -0.7
    page = latent_network_html(
        ["a", "b", "c"], ["x", "x", "y"], w, 0.1, weak={2: "unstable"}, covariate_edges=[("age", 0, 0.5)]
    )
    nodes, edges = _dataset(page, "nodes"), _dataset(page, "edges")
    assert all("crlDark" in item for item in nodes + edges)  # latents, captions, covariates and every link
    latents = {n["id"]: n for n in nodes if isinstance(n["id"], int)}
    assert latents[0]["crlDark"]["color"]["border"] != latents[0]["color"]["border"]
    assert latents[2]["crlDark"]["font"]["color"] == faded_label(DARK)
    negative = next(e for e in edges if e["id"] == "edge:1:2")
    assert negative["crlDark"]["color"]["hover"] == DARK.negative
    assert "@media (prefers-color-scheme: dark)" in page and DARK.page in page
    assert "matchMedia('(prefers-color-scheme: dark)')" in page
    # The script that picks the colours is defined before the data it is applied to.
    assert page.index("var crlDarkScheme") < page.index("new vis.DataSet(")
    assert page.index(f"background: {LIGHT.page}") < page.index("@media (prefers-color-scheme: dark)")
    assert page_css(32).count("@media") == 1


def test_figures_use_streamlits_themed_text_placeholder():
    """The chart theme swaps this placeholder for its strongest text grey in light and dark: if Streamlit drops
    it, figure text would stay near-black on a dark page."""
    theme = pytest.importorskip("streamlit.elements.lib.streamlit_plotly_theme")
    assert theme.GRAY_90 == THEMED_TEXT
    fig = overlap_figure({"a+b": 5, "a": 2})
    assert fig.layout.font.color == THEMED_TEXT
    assert all(axis.tickfont.color == THEMED_TEXT for axis in fig.select_xaxes())
    assert fig.layout.template.layout.legend.bgcolor == "rgba(0,0,0,0)"  # no white box on a dark page


def test_apply_style_keeps_an_axis_font_set_by_the_figure():
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))
    fig.update_xaxes(title_text="t", title_font_size=12)
    apply_style(fig, title="x")
    assert fig.layout.xaxis.title.font.size == 12 and fig.layout.yaxis.tickfont.size == 14
    assert "x" in fig.layout.title.text


def test_dashboard_config_has_a_light_and_a_dark_theme():
    """With its colours only in plain [theme], Streamlit made one light theme for every viewer (a dark OS
    setting was ignored); with [theme.light] and [theme.dark] the dashboard follows the operating system. The
    colours live only there, so each look is read in one place."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    theme = config["theme"]
    assert "base" not in theme
    assert not any(key.endswith("Color") for key in theme)
    light, dark = theme["light"]["primaryColor"], theme["dark"]["primaryColor"]
    assert light == OKABE_ITO[0]
    # Primary buttons draw white text on the accent; the accent marks sliders and tabs on the page.
    assert contrast_ratio("#FFFFFF", dark) >= 4.5 and contrast_ratio(dark, DARK.page) >= 3.5
    assert contrast_ratio("#FFFFFF", light) >= 4.5
