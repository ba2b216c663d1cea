"""Every export format stays readable whatever the latent and modality names hold: GraphML and SVG parse as XML
(characters XML 1.0 forbids become U+FFFD), DOT tokenizes with each name in one quoted string, HTML and JSON
carry the name as written. One hostile-corpus case per name (tests/hostile_names.py)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hostile_names import hostile_params

from crl.analysis.export import export_graph
from crl.analysis.graph import LatentGraph
from crl.viz.xml_text import legal_chars

GRAPHML = "{http://graphml.graphdrawing.org/xmlns}"
SVG = "{http://www.w3.org/2000/svg}"


def _graph(name: str) -> tuple[LatentGraph, dict[str, str]]:
    """Three latents whose ids carry the name as their modality, labelled with the name; three links, so every
    id appears in an edge. An id is what graph.csv can hold: one line ('<modality>.z<k>') of UTF-8."""
    modality = name.replace("\n", " ").encode("utf-8", "replace").decode("utf-8")
    ids = (f"{modality}.z0", f"{modality}.z1", "b.z0")
    w = np.zeros((3, 3))
    w[0, 2], w[1, 0], w[2, 1] = 0.9, 0.6, -0.7
    return LatentGraph(ids, w), {ids[0]: name, ids[1]: f"{name} 2", ids[2]: "plain"}


def _parse(text: str) -> ET.Element:
    text.encode("utf-8")  # what export_run writes to disk
    return ET.fromstring(text)


@pytest.mark.parametrize("name", hostile_params())
def test_graphml_is_well_formed_and_keeps_every_name(name):
    graph, labels = _graph(name)
    root = _parse(export_graph(graph, "graphml", 0.5, labels))
    nodes = {n.get("id"): n for n in root.iter(f"{GRAPHML}node")}
    assert list(nodes) == [legal_chars(i) for i in graph.names]
    for latent, node in zip(graph.names, nodes.values(), strict=True):
        data = {d.get("key"): d.text for d in node.iter(f"{GRAPHML}data")}
        assert data["label"] == legal_chars(labels[latent])
        assert data["modality"] == legal_chars(latent.rsplit(".z", 1)[0])
    edges = [(e.get("source"), e.get("target")) for e in root.iter(f"{GRAPHML}edge")]
    assert len(edges) == 3 and all(s in nodes and t in nodes for s, t in edges)


@pytest.mark.parametrize("name", hostile_params())
def test_svg_is_well_formed_and_shows_every_name(name):
    graph, labels = _graph(name)
    root = _parse(export_graph(graph, "svg", 0.5, labels))
    texts = {t.text for t in root.iter(f"{SVG}text")}
    for line in name.splitlines():
        if line.strip():
            assert legal_chars(line) in texts
    titles = {t.text for t in root.iter(f"{SVG}title")}
    assert legal_chars(name) in titles
    assert legal_chars(graph.modality_of[0]) in texts  # the modality caption


# DOT's tokens: a quoted string (backslash escapes, may not hold a bare quote), a name or number, an arrow,
# punctuation, white space.
_DOT_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|-?(?:\d+\.?\d*|\.\d+)|->|[{}\[\];=,]|\s+', re.S
)


def _dot_strings(text: str) -> list[str]:
    """The quoted strings of a DOT file, unescaped; fails where the file does not tokenize or its braces do
    not balance outside the strings."""
    strings, pos, depth = [], 0, 0
    while pos < len(text):
        match = _DOT_TOKEN.match(text, pos)
        assert match, f"DOT does not tokenize at {text[pos : pos + 40]!r}"
        token = match.group()
        if token.startswith('"'):
            strings.append(re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), token[1:-1]))
        depth += {"{": 1, "}": -1}.get(token, 0)
        assert depth >= 0
        pos = match.end()
    assert depth == 0
    return strings


@pytest.mark.parametrize("name", hostile_params())
def test_dot_quotes_and_escapes_every_name(name):
    graph, labels = _graph(name)
    text = export_graph(graph, "dot", 0.5, labels)
    text.encode("utf-8")
    # No control characters for Graphviz to trip on.
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text)
    strings = _dot_strings(text)
    for expected in (name, graph.names[0]):  # a label, an id; line breaks become Graphviz's \n
        assert re.sub(r"\r\n|\r", "\n", legal_chars(expected)) in strings
    try:
        import pydot  # optional (causal-learn brings it): a real DOT parser as a second opinion
    except ImportError:
        return
    (parsed,) = pydot.graph_from_dot_data(text)
    assert len(parsed.get_edges()) == 3


def _nodes(page: str) -> list[dict]:
    match = re.search(r"nodes = new vis\.DataSet\(crlTooltips\((.*?)\)\);", page, flags=re.S)
    assert match, "no nodes data set in the page"
    return json.loads(match.group(1))


@pytest.mark.parametrize("name", hostile_params())
def test_html_and_json_carry_the_name_as_written(name):
    graph, labels = _graph(name)
    baseline = export_graph(LatentGraph(("a.z0", "a.z1", "b.z0"), graph.weights), "html", 0.5)
    page = export_graph(graph, "html", 0.5, labels)
    assert page.count("<script") == baseline.count("<script") and page.count("</script") == baseline.count(
        "</script"
    )
    assert [n["label"] for n in _nodes(page) if isinstance(n["id"], int)] == [name, f"{name} 2", "plain"]
    payload = json.loads(export_graph(graph, "json", 0.5, labels))
    assert [n["label"] for n in payload["nodes"]] == [name, f"{name} 2", "plain"]


def test_legal_chars_replaces_only_what_xml_forbids():
    assert legal_chars("tab\tlf\ncr\r é 🧠 שלום \u202e\ufffd") == "tab\tlf\ncr\r é 🧠 שלום \u202e\ufffd"
    assert legal_chars("a\x00b\x07c\x1bd\ud800e\ufffef\uffff") == "a�b�c�d�e�f�"
