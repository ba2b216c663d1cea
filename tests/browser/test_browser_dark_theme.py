"""The dashboard follows the viewer's light or dark preference (prefers-color-scheme), and so do the parts
Streamlit does not theme: the latent network's frame and canvas, and the text of the plotly figures."""

from __future__ import annotations

import re

import pytest
from dashboard import wait_for_app

from crl.viz.palette import contrast_ratio, relative_luminance, rgb_to_hex

pytestmark = pytest.mark.browser


def _hex(css_colour: str) -> str:
    """'#RRGGBB' for a colour as the browser or vis-network reports it: 'rgb(23, 22, 20)' or '#171614'."""
    if re.fullmatch(r"#[0-9A-Fa-f]{6}", css_colour):
        return css_colour
    channels = [float(v) for v in re.findall(r"[\d.]+", css_colour)[:3]]
    assert len(channels) == 3, f"not an rgb colour: {css_colour!r}"
    return rgb_to_hex(channels)


def _luminance(css_colour: str) -> float:
    """WCAG luminance of a computed CSS colour."""
    return relative_luminance(_hex(css_colour))


def _is_dark(css_colour: str) -> bool:
    return _luminance(css_colour) < 0.05


def _is_light(css_colour: str) -> bool:
    return _luminance(css_colour) > 0.8


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_app_and_its_network_frame_follow_the_colour_scheme(browser, app_url, screenshot_dir, scheme):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(app_url)  # the Overview: the demo's network
        wait_for_app(page)
        app = page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor"
        )
        frame_element = page.locator("iframe").first
        frame_element.wait_for(timeout=120_000)
        frame = frame_element.element_handle().content_frame()
        frame.wait_for_function("() => typeof network !== 'undefined' && network.body", timeout=60_000)
        body = frame.evaluate("() => getComputedStyle(document.body).backgroundColor")
        # The canvas's labels (drawn by vis-network, which CSS cannot reach) and the hover box.
        label = frame.evaluate(
            "() => network.body.nodes[nodes.getIds().find(id => typeof id === 'number')].options.font.color"
        )
        tooltip = frame.evaluate(
            "() => { const t = document.createElement('div'); t.className = 'vis-tooltip';"
            " document.body.appendChild(t); return getComputedStyle(t).backgroundColor; }"
        )
        page.screenshot(path=str(screenshot_dir / f"overview-{scheme}.png"))
        if scheme == "dark":
            assert _is_dark(app) and _is_dark(body) and _is_dark(tooltip)
            assert _luminance(label) > _luminance(body)  # light labels on the dark canvas
        else:
            assert _is_light(app) and _is_light(body) and _is_light(tooltip)
            assert _luminance(label) < _luminance(body)
        # Readable, even for the demo's latents, which are all drawn faded (not reliably recovered).
        assert contrast_ratio(_hex(label), _hex(body)) >= 3.0
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_figure_text_follows_the_colour_scheme(browser, app_url, scheme):
    """Plotly draws text in SVG with the colours the figure carries: Streamlit's chart theme must have swapped
    in the app's text colour (crl/viz/style.py's THEMED_TEXT), or axis labels would vanish on a dark page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(f"{app_url}/cohort")  # 'Who has what': the modality overlap figure
        wait_for_app(page)
        tick = page.locator(".js-plotly-plot .ytick text").first
        tick.wait_for(timeout=120_000)
        fill = tick.evaluate("e => getComputedStyle(e).fill")
        paper = page.locator(".js-plotly-plot .main-svg").first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        if scheme == "dark":
            assert _luminance(fill) > 0.7 and not _is_light(paper)
        else:
            assert _luminance(fill) < 0.05
    finally:
        context.close()
