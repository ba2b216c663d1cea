"""Exports of a learned graph in formats other tools read: GraphML (Cytoscape, Gephi), DOT, JSON, CSV, HTML, SVG."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from crl.analysis.confidence import Confidence
from crl.analysis.graph import LatentGraph, load_graph
from crl.analysis.names import default_names, load_names
from crl.errors import CrlError
from crl.runs.files import atomic_write_text
from crl.runs.run import Run
from crl.viz.xml_text import legal_chars, xml_attr, xml_text

FORMATS = ("graphml", "dot", "json", "csv", "html", "svg")


def _with_confidence(table, confidence: Confidence | None):
    """The kept-edges table with `frequency` and `effect` columns when the run has them."""
    if confidence is None or confidence.edges is None:
        return table
    links = [confidence.link(s, t) for s, t in zip(table["source"], table["target"], strict=True)]
    return table.assign(frequency=[f for f, _ in links], effect=[e for _, e in links])


def _node_measures(confidence: Confidence | None) -> dict:
    """Per-latent measures the run has, as name -> reader (latent -> value or None)."""
    if confidence is None:
        return {}
    found = {}
    if confidence.stability is not None:
        found["stability"] = confidence.stability_of
    if confidence.cross_modal is not None:
        found["cross_modal"] = confidence.cross_modal_of
    return found


def to_graphml(
    graph: LatentGraph,
    threshold: float,
    labels: dict[str, str] | None = None,
    confidence: Confidence | None = None,
) -> str:
    labels = labels or {}
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
        '  <key id="label" for="node" attr.name="label" attr.type="string"/>',
        '  <key id="modality" for="node" attr.name="modality" attr.type="string"/>',
        '  <key id="weight" for="edge" attr.name="weight" attr.type="double"/>',
        '  <key id="cross_modal" for="edge" attr.name="cross_modal" attr.type="boolean"/>',
    ]
    node_keys = _node_measures(confidence)
    edge_keys = ("frequency", "effect") if confidence is not None and confidence.edges is not None else ()
    lines += [f'  <key id="{k}" for="node" attr.name="{k}" attr.type="double"/>' for k in node_keys]
    lines += [f'  <key id="{k}" for="edge" attr.name="{k}" attr.type="double"/>' for k in edge_keys]
    lines.append('  <graph id="latents" edgedefault="directed">')
    for name, modality in zip(graph.names, graph.modality_of, strict=False):
        lines.append(f"    <node id={xml_attr(name)}>")
        lines.append(f'      <data key="label">{xml_text(labels.get(name, name))}</data>')
        lines.append(f'      <data key="modality">{xml_text(modality)}</data>')
        for key, read in node_keys.items():
            value = read(name)
            if value is not None:
                lines.append(f'      <data key="{key}">{value:.6g}</data>')
        lines.append("    </node>")
    for row in _with_confidence(graph.edges(threshold), confidence).itertuples():
        lines.append(f"    <edge source={xml_attr(row.source)} target={xml_attr(row.target)}>")
        lines.append(f'      <data key="weight">{row.weight:.6g}</data>')
        lines.append(f'      <data key="cross_modal">{str(row.cross_modal).lower()}</data>')
        for key in edge_keys:
            value = getattr(row, key)
            if not math.isnan(value):
                lines.append(f'      <data key="{key}">{value:.6g}</data>')
        lines.append("    </edge>")
    lines += ["  </graph>", "</graphml>", ""]
    return "\n".join(lines)


def _dot_id(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, line breaks as Graphviz's \\n, and no character
    that XML forbids (control characters trip Graphviz, lone surrogates UTF-8)."""
    text = legal_chars(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"\r\n|\r|\n", r"\\n", text) + '"'


def to_dot(
    graph: LatentGraph,
    threshold: float,
    labels: dict[str, str] | None = None,
    confidence: Confidence | None = None,
) -> str:
    labels = labels or {}
    lines = ["digraph latents {", "  rankdir=LR;"]
    for k, (modality, members) in enumerate(graph.blocks().items()):
        lines.append(f"  subgraph cluster_{k} {{ label={_dot_id(modality)};")
        for i in members:
            name = graph.names[i]
            faded = confidence is not None and confidence.is_weak(name)
            style = ", color=gray, fontcolor=gray" if faded else ""  # not reliably recovered
            lines.append(f"    {_dot_id(name)} [label={_dot_id(labels.get(name, name))}{style}];")
        lines.append("  }")
    for row in graph.edges(threshold).itertuples():
        style = "" if row.cross_modal else ", style=dashed"
        lines.append(
            f"  {_dot_id(row.source)} -> {_dot_id(row.target)} [weight={row.weight:.6g}, label={row.weight:.2f}{style}];"
        )
    lines += ["}", ""]
    return "\n".join(lines)


def to_json(
    graph: LatentGraph,
    threshold: float,
    labels: dict[str, str] | None = None,
    confidence: Confidence | None = None,
) -> str:
    labels = labels or {}
    nodes = [
        {"id": n, "label": labels.get(n, n), "modality": m}
        for n, m in zip(graph.names, graph.modality_of, strict=False)
    ]
    for key, read in _node_measures(confidence).items():
        for node in nodes:
            node[key] = read(node["id"])
    edges = _with_confidence(graph.edges(threshold), confidence).to_dict(orient="records")
    for edge in edges:  # NaN is not JSON: a link without a measured effect has null
        for key in ("frequency", "effect"):
            if key in edge and edge[key] != edge[key]:
                edge[key] = None
    return json.dumps({"threshold": threshold, "nodes": nodes, "edges": edges}, indent=2) + "\n"


def to_csv(
    graph: LatentGraph,
    threshold: float,
    labels: dict[str, str] | None = None,
    confidence: Confidence | None = None,
) -> str:
    return _with_confidence(graph.edges(threshold), confidence).to_csv(index=False)


def to_html(
    graph: LatentGraph,
    threshold: float,
    labels: dict[str, str] | None = None,
    confidence: Confidence | None = None,
) -> str:
    from crl.viz.network import latent_network_html

    labels = labels or {}
    weak, notes, rare = (
        confidence.for_network(list(graph.names)) if confidence is not None else ({}, {}, set())
    )
    return latent_network_html(
        [labels.get(n, n) for n in graph.names],
        graph.modality_of,
        graph.weights,
        threshold,
        weak=weak,
        edge_notes=notes,
        uncertain_edges=rare,
    )


def to_svg(
    graph: LatentGraph,
    threshold: float,
    labels: dict[str, str] | None = None,
    confidence: Confidence | None = None,
) -> str:
    from crl.viz.network_svg import latent_network_svg

    labels = labels or {}
    weak = [i for i, n in enumerate(graph.names) if confidence is not None and confidence.is_weak(n)]
    return latent_network_svg(
        [labels.get(n, n) for n in graph.names], graph.modality_of, graph.weights, threshold, weak
    )


WRITERS = {
    "graphml": to_graphml,
    "dot": to_dot,
    "json": to_json,
    "csv": to_csv,
    "html": to_html,
    "svg": to_svg,
}


def export_graph(
    graph: LatentGraph,
    fmt: str,
    threshold: float,
    labels: dict[str, str] | None = None,
    confidence: Confidence | None = None,
) -> str:
    """The graph as text in `fmt` (one of FORMATS), edges at or above the threshold; with `confidence`, each
    latent's stability and each link's frequency and effect across restarts where the format can carry them."""
    if fmt not in WRITERS:
        raise CrlError(f"unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    return WRITERS[fmt](graph, threshold, labels, confidence)


def _run_threshold(run: Path) -> float:
    return Run(run).threshold()


def export_run(run: Path, fmt: str, out: Path | None = None, threshold: float | None = None) -> Path:
    """Writes `<run>/graph.<fmt>` (or `out`) atomically and returns its path. Latents are labelled as the
    dashboard names them when no cohort is at hand: the run's names.json, else "Sleep 1"; ids stay as on disk."""
    run = Path(run)
    graph = load_graph(run)
    labels = load_names(run, default_names(graph.names))
    threshold = _run_threshold(run) if threshold is None else threshold
    text = export_graph(graph, fmt, threshold, labels, Confidence.of_run(run))
    out = Path(out) if out else run / f"graph.{fmt if fmt != 'csv' else 'edges.csv'}"
    atomic_write_text(out, text)
    return out
