"""The network's legend in a narrow frame (150 % zoom, side by side): nothing cut off, the link count shown."""

from __future__ import annotations

import numpy as np
import pytest

from crl.viz.network import latent_network_html, network_height

pytestmark = pytest.mark.browser


def _page_html() -> str:
    names = ["sleep apnea severity", "resting heart rate", "left eye vessel calibre", "right eye cup-to-disc"]
    weights = np.zeros((4, 4))
    weights[0, 2] = weights[1, 3] = 0.9
    return latent_network_html(
        names,
        ["sleep", "sleep", "fundus_left", "fundus_right"],
        weights,
        0.5,
        block_only=[0],
        weak={1: "not reliably recovered"},
        height=400,
    )


@pytest.mark.parametrize("width", [1200, 520, 380])
def test_the_legend_fits_its_frame_and_the_canvas_keeps_within_it(browser, width):
    page = browser.new_page(viewport={"width": width, "height": network_height(400)})
    page.set_content(_page_html())
    page.wait_for_timeout(500)
    legend = page.locator(".crl-legend")
    fits = page.evaluate(
        "() => { const l = document.querySelector('.crl-legend'); return l.scrollWidth <= l.clientWidth; }"
    )
    assert fits
    hint = page.locator(".crl-legend .hint")
    box, frame = hint.bounding_box(), legend.bounding_box()
    assert box["x"] + box["width"] <= frame["x"] + frame["width"] + 1  # the count is on screen
    canvas = page.locator("#mynetwork").bounding_box()
    assert canvas["y"] + canvas["height"] <= network_height(400)  # the frame still holds the whole canvas
    page.close()
