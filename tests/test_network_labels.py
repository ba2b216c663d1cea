"""Hostile names on the network page's canvas: every label reaches vis-network as the literal text, and no label
goes through vis-network's html font mode with a character that mode mishandles.

vis-network 9.1's html mode (Label.splitHtmlBlocks) compiles the whole label into a regular expression when it
meets '&', so "dose (<5 mg" threw "Invalid regular expression" and the graph vanished; it also showed '&amp;'
and '&lt;' as those very letters. The browser test (tests/browser/test_browser_network_labels.py) draws them.
"""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
from hostile_names import hostile_params

from crl.viz.network import latent_network_html


def _nodes(page: str) -> list[dict]:
    match = re.search(r"nodes = new vis\.DataSet\(crlTooltips\((.*?)\)\);", page, flags=re.S)
    assert match, "no nodes data set in the page"
    return json.loads(match.group(1))


def _page(name: str, modality: str = "sleep") -> str:
    w = np.zeros((3, 3))
    w[0, 1] = w[1, 2] = 0.8
    return latent_network_html(
        [name, "plain", "other"],
        [modality, modality, "labs"],
        w,
        0.1,
        covariate_edges=[(name, 0, 0.5)],
        node_details=[f"drives: {name}", None, None],
    )


def _html_mode_is_safe(node: dict) -> bool:
    """True where vis-network's html font mode would draw the label as written: that mode parses '&' (through
    a regular expression built from the label) and the tags <b>, <i>, <code>; only our own <b>…</b> may be there."""
    if not node.get("font", {}).get("multi"):
        return True
    inner = re.sub(r"^<b>(.*)</b>$", r"\1", node["label"], flags=re.S)
    return "&" not in inner and "<" not in inner


@pytest.mark.parametrize("name", hostile_params())
def test_latent_and_covariate_labels_are_the_literal_name(name):
    page = _page(name)
    nodes = _nodes(page)
    latent = next(n for n in nodes if n["id"] == 0)
    covariate = next(n for n in nodes if str(n["id"]).startswith("covariate:"))
    for node in (latent, covariate):
        assert node["label"] == name
        assert _html_mode_is_safe(node)
    assert f"<b>{html.escape(name)}</b>" in latent["title"]


@pytest.mark.parametrize("modality", hostile_params())
def test_modality_captions_show_the_literal_name(modality):
    nodes = _nodes(_page("x", modality=modality))
    caption = next(n for n in nodes if n["id"] == "modality:0")
    assert _html_mode_is_safe(caption)
    text = caption["label"]
    if caption.get("font", {}).get("multi"):
        text = text.removeprefix("<b>").removesuffix("</b>")
    assert text == modality


@pytest.mark.parametrize("name", hostile_params())
def test_a_hostile_name_adds_no_markup_to_the_page(name):
    baseline = _page("harmless")
    page = _page(name)
    for tag in ("<script", "</script", "<!--", "<iframe", "<b>", "<i>"):
        assert page.count(tag) == baseline.count(tag), tag


def test_ordinary_modality_captions_stay_bold():
    nodes = _nodes(_page("x", modality="fundus_left 2"))
    caption = next(n for n in nodes if n["id"] == "modality:0")
    assert caption["label"] == "<b>fundus_left 2</b>" and caption["font"]["multi"] == "html"
