"""Graph read-out from a run folder and its exports, including hostile latent names."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from crl.analysis.export import export_graph, export_run
from crl.analysis.graph import LatentGraph, load_graph
from crl.cli import main

NAMES = ["a.z0", "a.z1", 'b<script>"x.z0', 'b<script>"x.z1']


@pytest.fixture
def graph() -> LatentGraph:
    w = np.zeros((4, 4))
    w[0, 2] = 0.9  # cross-modal a.z0 -> b.z0
    w[1, 0] = 0.6  # within a
    w[3, 1] = 0.2  # weak cross-modal, below 0.5
    return LatentGraph(tuple(NAMES), w)


def test_threshold_and_cross_modal_filter(graph):
    assert graph.adjacency(0.5).sum() == 2
    assert graph.adjacency(0.1).sum() == 3
    assert graph.adjacency(0.5, cross_modal_only=True).sum() == 1
    table = graph.edges(0.1)
    assert list(table["weight"]) == [0.9, 0.6, 0.2]
    assert list(table["cross_modal"]) == [True, False, True]


def test_graphml_parses_and_keeps_names(graph):
    root = ET.fromstring(export_graph(graph, "graphml", 0.5))
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    nodes = [n.get("id") for n in root.iterfind(".//g:node", ns)]
    edges = [(e.get("source"), e.get("target")) for e in root.iterfind(".//g:edge", ns)]
    assert nodes == NAMES
    assert sorted(edges) == sorted([(NAMES[0], NAMES[2]), (NAMES[1], NAMES[0])])


def test_dot_and_json_and_csv(graph):
    dot = export_graph(graph, "dot", 0.5)
    assert dot.count("->") == 2 and '\\"x.z0' in dot
    payload = json.loads(export_graph(graph, "json", 0.5))
    assert [n["id"] for n in payload["nodes"]] == NAMES and len(payload["edges"]) == 2
    csv = export_graph(graph, "csv", 0.1)
    assert csv.splitlines()[0] == "source,target,weight,cross_modal" and len(csv.splitlines()) == 4


def test_html_escapes_names(graph):
    html = export_graph(graph, "html", 0.5)
    assert '<script>"x' not in html and "vis" in html


def test_run_folder_round_trip_and_cli(tmp_path, graph):
    run = tmp_path / "run"
    run.mkdir()
    rows = [(s, t, graph.weights[i, j]) for i, s in enumerate(NAMES) for j, t in enumerate(NAMES) if i != j]
    pd.DataFrame(rows, columns=["source", "target", "weight"]).to_csv(run / "graph.csv", index=False)
    loaded = load_graph(run)
    assert loaded.names == tuple(NAMES) and np.allclose(loaded.weights, graph.weights)
    path = export_run(run, "graphml")
    assert path == run / "graph.graphml" and path.exists()
    assert (
        main(["export", str(run), "--format", "dot", "--threshold", "0.1", "--out", str(tmp_path / "g.dot")])
        == 0
    )
    assert (tmp_path / "g.dot").read_text().count("->") == 3


def test_missing_graph_is_a_plain_error(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--format", "json"]) == 1
    assert "not a finished run folder" in capsys.readouterr().err


def test_svg_is_a_picture_of_the_kept_edges_with_escaped_names(graph):
    svg = export_graph(graph, "svg", 0.5, {"a.z0": "apnea <severity>"})
    root = ET.fromstring(svg)  # well-formed XML, so every tool can open it
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert len(root.findall(f"{ns}circle")) == 4 + 2  # four latents + two legend dots
    arrows = [p for p in root.findall(f"{ns}path") if p.get("marker-end")]
    assert len(arrows) == 2  # 0.9 and 0.6 kept, 0.2 dropped
    assert float(arrows[0].get("stroke-width")) > float(arrows[1].get("stroke-width"))  # width by strength
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "apnea <severity>" in texts and 'b<script>"x' in texts  # shown literally, never as markup
    assert "<script" not in svg
    assert len(export_graph(graph, "svg", 0.1)) > len(export_graph(graph, "svg", 0.95))


def test_a_run_exports_with_the_names_saved_in_it(tmp_path, graph, capsys):
    run = tmp_path / "run"
    run.mkdir()
    rows = [(s, t, graph.weights[i, j]) for i, s in enumerate(NAMES) for j, t in enumerate(NAMES) if i != j]
    pd.DataFrame(rows, columns=["source", "target", "weight"]).to_csv(run / "graph.csv", index=False)
    (run / "names.json").write_text(json.dumps({"names": {"a.z0": "apnea severity"}}))
    payload = json.loads(export_run(run, "json").read_text())
    labels = {n["id"]: n["label"] for n in payload["nodes"]}
    assert labels["a.z0"] == "apnea severity"  # the user's name from the dashboard
    assert labels["a.z1"] == "A 2"  # unnamed: the dashboard's default
    (run / "names.json").write_text("{broken")
    assert main(["export", str(run), "--format", "svg"]) == 1  # a damaged names file is named, not ignored
    assert "names.json is not readable JSON" in capsys.readouterr().err


def test_svg_arrow_heads_stop_at_the_rim_of_their_node(graph):
    from crl.viz.network_svg import ARROW_TIP, NODE_RADIUS

    root = ET.fromstring(export_graph(graph, "svg", 0.5))
    ns = "{http://www.w3.org/2000/svg}"
    centres = np.array(
        [[float(c.get("cx")), float(c.get("cy"))] for c in root.iter(f"{ns}circle") if float(c.get("r")) > 10]
    )
    for arrow in (p for p in root.iter(f"{ns}path") if p.get("marker-end")):
        end = np.array([float(v) for v in arrow.get("d").split()[-1].split(",")])
        reach = ARROW_TIP * float(arrow.get("stroke-width"))  # how far the head's tip lies past the end
        gap = np.hypot(*(centres - end).T).min() - reach
        assert NODE_RADIUS <= gap <= NODE_RADIUS + 2  # the tip touches a node's rim, not its centre


def test_a_run_with_restarts_exports_stability_frequency_and_effect(tmp_path):
    import xml.etree.ElementTree as ET

    import numpy as np
    import pandas as pd

    from crl.analysis.export import export_run
    from crl.runs.confidence import write_confidence

    run = tmp_path / "run"
    run.mkdir()
    names = ["a.z0", "a.z1", "b.z0"]
    rows = [(s, t, 0.9 if (s, t) == ("a.z0", "b.z0") else 0.1) for s in names for t in names if s != t]
    graph = pd.DataFrame(rows, columns=["source", "target", "weight"])
    graph.to_csv(run / "graph.csv", index=False)
    edges = graph.assign(frequency=0.0, effect=np.nan)
    edges.loc[(edges.source == "a.z0") & (edges.target == "b.z0"), ["frequency", "effect"]] = [0.75, -0.5]
    write_confidence(run, edges, pd.Series([0.95, 0.4, 0.9], index=names))

    tree = ET.parse(export_run(run, "graphml"))
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    stability = {
        n.get("id"): float(n.find("g:data[@key='stability']", ns).text)
        for n in tree.iterfind(".//g:node", ns)
    }
    assert stability == {"a.z0": 0.95, "a.z1": 0.4, "b.z0": 0.9}
    (edge,) = tree.iterfind(".//g:edge", ns)
    assert float(edge.find("g:data[@key='frequency']", ns).text) == 0.75
    assert float(edge.find("g:data[@key='effect']", ns).text) == -0.5
    table = pd.read_csv(export_run(run, "csv"))
    assert list(table.columns[-2:]) == ["frequency", "effect"] and table.loc[0, "frequency"] == 0.75
    payload = json.loads(export_run(run, "json").read_text())
    assert payload["nodes"][1]["stability"] == 0.4 and payload["edges"][0]["effect"] == -0.5
    dot = export_run(run, "dot").read_text()
    assert '"a.z1" [label="A 2", color=gray, fontcolor=gray]' in dot  # not reliably recovered: grey
    assert "Not reliably recovered" in export_run(run, "html").read_text()


def test_a_run_trained_once_exports_as_before(tmp_path):
    import pandas as pd

    from crl.analysis.export import export_run

    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame(
        [("a.z0", "b.z0", 0.9), ("b.z0", "a.z0", 0.1)], columns=["source", "target", "weight"]
    ).to_csv(run / "graph.csv", index=False)
    assert list(pd.read_csv(export_run(run, "csv")).columns) == ["source", "target", "weight", "cross_modal"]
    assert "stability" not in export_run(run, "graphml").read_text()
