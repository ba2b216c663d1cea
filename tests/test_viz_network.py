"""The latent-graph page: escaping, offline, stable layout, edge semantics and the threshold."""

import json
import re

import numpy as np
import pytest

from crl.viz.layout import network_layout
from crl.viz.network import latent_network_html, network_height

PAYLOAD = "<script>alert(1)</script>"
MODALITIES = ["sleep", "sleep", "labs", "labs", "fundus"]
NAMES = ["sleep z0", "sleep z1", "labs z0", "labs z1", "fundus z0"]


def _weights() -> np.ndarray:
    w = np.zeros((5, 5))
    w[0, 2] = 0.9  # sleep z0 -> labs z0, across modalities
    w[1, 0] = 0.5  # within sleep
    w[3, 4] = 0.2
    w[4, 1] = -0.7  # negative strength
    w[2, 2] = 5.0  # diagonal: never drawn
    return w


def _dataset(page: str, which: str) -> list[dict]:
    """The nodes or edges JSON the page hands to vis-network."""
    match = re.search(which + r" = new vis\.DataSet\(crlTooltips\((.*?)\)\);", page, flags=re.S)
    assert match, f"no {which} data set in the page"
    return json.loads(match.group(1))


def _latents(page: str) -> dict[int, dict]:
    return {n["id"]: n for n in _dataset(page, "nodes") if isinstance(n["id"], int)}


def _edges(page: str) -> dict[tuple, dict]:
    return {(e["from"], e["to"]): e for e in _dataset(page, "edges")}


def test_every_user_string_is_escaped():
    baseline = latent_network_html(NAMES, MODALITIES, _weights(), 0.1)
    page = latent_network_html(
        [PAYLOAD, *NAMES[1:]],
        [PAYLOAD, PAYLOAD, "labs", "labs", "fundus"],
        _weights(),
        0.1,
        node_details=[f"drives most: {PAYLOAD}", None, None, None, None],
        block_only={0},
        covariate_edges=[(PAYLOAD, 0, 0.4)],
    )
    assert PAYLOAD not in page
    assert "alert(1)</script>" not in page
    # The page's own script tags are the only ones: the payload added none.
    assert page.count("<script") == baseline.count("<script")
    nodes = _latents(page)
    # Hover titles are HTML-escaped (rendered as HTML); canvas labels are plain text, drawn as written
    # (vis-network's html font mode showed '&lt;' literally and threw on some names: tests/test_network_labels.py).
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in nodes[0]["title"]
    assert "Modality: &lt;script&gt;" in nodes[0]["title"]
    assert "drives most: &lt;script&gt;" in nodes[0]["title"]
    assert nodes[0]["label"] == PAYLOAD and not nodes[0].get("font", {}).get("multi")
    covariate = next(n for n in _dataset(page, "nodes") if str(n["id"]).startswith("covariate:"))
    assert covariate["label"] == PAYLOAD and "<script" not in covariate["title"]
    edge_titles = " ".join(e["title"] for e in _dataset(page, "edges"))
    assert "<script" not in edge_titles and "&lt;script&gt;" in edge_titles


def test_page_makes_no_outside_requests():
    page = latent_network_html(NAMES, MODALITIES, _weights(), 0.1, covariate_edges=[("Age", 2, 0.3)])
    outside = re.compile(
        r"""(?:\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*(?:https?:)?//)|@import""",
        re.I,
    )
    assert outside.search(page) is None
    assert "bootstrap" not in page.lower()
    # vis-network itself is inlined, so the page draws without a network connection.
    assert "vis.Network" in page and len(page) > 300_000
    assert page.lstrip().lower().startswith("<!doctype html>")


def test_positions_do_not_move_when_the_threshold_changes():
    w = np.random.default_rng(0).uniform(0, 1, (5, 5))
    pages = [
        latent_network_html(NAMES, MODALITIES, w, t, covariate_edges=[("Age", 1, 0.2)])
        for t in (0.0, 0.5, 0.95)
    ]
    positions = [{n["id"]: (n["x"], n["y"]) for n in _dataset(p, "nodes")} for p in pages]
    assert positions[0] == positions[1] == positions[2]
    counts = [sum(1 for e in _dataset(p, "edges") if e["id"].startswith("edge:")) for p in pages]
    assert counts[0] > counts[1] > counts[2]
    options = json.loads(re.search(r"var options = (\{.*?\});", pages[0], flags=re.S).group(1))
    assert options["physics"]["enabled"] is False


def test_layout_is_deterministic_and_clusters_by_modality():
    xy = network_layout(MODALITIES)
    assert np.array_equal(xy, network_layout(MODALITIES))
    assert xy.shape == (5, 2)
    centres = {m: xy[[i for i, n in enumerate(MODALITIES) if n == m]].mean(axis=0) for m in set(MODALITIES)}
    # Each latent is closer to its own modality's centre than to any other modality's.
    for i, m in enumerate(MODALITIES):
        own = np.hypot(*(xy[i] - centres[m]))
        assert all(own < np.hypot(*(xy[i] - c)) for k, c in centres.items() if k != m)
    assert len({tuple(p) for p in xy}) == 5


def test_edges_follow_rows_to_columns_and_the_threshold():
    page = latent_network_html(NAMES, MODALITIES, _weights(), 0.3)
    edges = _edges(page)
    assert set(edges) == {(0, 2), (1, 0), (4, 1)}  # 0.2 is below the threshold; the diagonal is ignored
    assert "0.900" in edges[(0, 2)]["title"] and "Across modalities: sleep → labs" in edges[(0, 2)]["title"]
    assert "Within sleep" in edges[(1, 0)]["title"]
    assert "negative" in edges[(4, 1)]["title"]
    # Stronger edges are drawn wider.
    assert edges[(0, 2)]["width"] > edges[(4, 1)]["width"] > edges[(1, 0)]["width"]
    assert all(e["arrows"]["to"]["enabled"] for e in edges.values())


def test_cross_modal_only_hides_edges_inside_a_modality():
    page = latent_network_html(NAMES, MODALITIES, _weights(), 0.0, cross_modal_only=True)
    assert set(_edges(page)) == {(0, 2), (3, 4), (4, 1)}


def test_block_only_nodes_are_dashed_and_explained():
    page = latent_network_html(NAMES, MODALITIES, _weights(), 0.1, block_only={"labs z1", 0})
    nodes = _latents(page)
    for i in (0, 3):
        assert nodes[i]["shapeProperties"]["borderDashes"]
        assert "as a block" in nodes[i]["title"]
    assert "shapeProperties" not in nodes[1] and "as a block" not in nodes[1]["title"]
    assert "identified only as a block" in page  # legend entry


def test_covariates_are_grey_boxes_linked_to_latents():
    page = latent_network_html(
        NAMES, MODALITIES, _weights(), 0.1, covariate_edges=[("Age", "labs z0", 0.4), ("Age", 4, 0.1)]
    )
    covariates = [n for n in _dataset(page, "nodes") if str(n["id"]).startswith("covariate:")]
    assert len(covariates) == 1 and covariates[0]["shape"] == "box" and covariates[0]["label"] == "Age"
    links = [e for e in _dataset(page, "edges") if e["from"] == covariates[0]["id"]]
    assert sorted(e["to"] for e in links) == [2, 4]
    assert all(not e["arrows"]["to"]["enabled"] for e in links)
    # Not dashed: in vis-network a dashed link makes the dashed borders of block-identified latents look solid.
    assert not any(e.get("dashes") for e in links)
    assert "0.400" in next(e for e in links if e["to"] == 2)["title"]


def test_nodes_are_coloured_by_modality_and_show_details():
    page = latent_network_html(
        NAMES, MODALITIES, _weights(), 0.1, node_details={"labs z0": "drives: glucose\nHbA1c"}
    )
    nodes = _latents(page)
    colours = [nodes[i]["color"]["background"] for i in range(5)]
    assert colours[0] == colours[1] and colours[2] == colours[3]
    assert len({colours[0], colours[2], colours[4]}) == 3
    assert "drives: glucose<br>HbA1c" in nodes[2]["title"]
    for modality in ("sleep", "labs", "fundus"):
        assert f">{modality}</span>" in page  # legend


def test_height_and_errors():
    page = latent_network_html(NAMES, MODALITIES, _weights(), 0.1, height=400)
    assert "height: 400px" in page
    assert network_height(400) > 400 + 20
    with pytest.raises(ValueError, match="shape"):
        latent_network_html(NAMES, MODALITIES, np.zeros((4, 4)), 0.1)
    with pytest.raises(ValueError, match="no latent"):
        latent_network_html(NAMES, MODALITIES, _weights(), 0.1, covariate_edges=[("Age", "nope", 0.1)])
    assert latent_network_html(NAMES, MODALITIES, _weights(), 0.1) == latent_network_html(
        NAMES, MODALITIES, _weights(), 0.1
    )
