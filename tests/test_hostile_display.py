"""Hostile display names (names.json typed by a user) through every export: named errors or clean output."""

from __future__ import annotations

import pytest
from hostile_names import hostile_params

pytestmark = pytest.mark.hostile


# --- display and export (hviz)


def _run_with_name(tmp_path, name: str):
    """A finished run folder (graph.csv) whose names.json gives sleep.z0 `name`, as the name editor or a hand
    edit would."""
    import json

    import pandas as pd

    run = tmp_path / "run"
    run.mkdir()
    rows = [("sleep.z0", "labs.z0", 0.9), ("labs.z0", "sleep.z1", 0.7), ("sleep.z1", "sleep.z0", 0.1)]
    pd.DataFrame(rows, columns=["source", "target", "weight"]).to_csv(run / "graph.csv", index=False)
    (run / "names.json").write_text(json.dumps({"names": {"sleep.z0": name}}), encoding="utf-8")
    return run


@pytest.mark.parametrize("name", hostile_params())
def test_a_hostile_name_in_names_json_exports_readably(tmp_path, name):
    import xml.etree.ElementTree as ET

    from crl.analysis.export import export_run
    from crl.analysis.names import clean_name

    run = _run_with_name(tmp_path, name)
    shown = clean_name(name) or "Sleep 1"
    graphml = ET.fromstring(export_run(run, "graphml").read_bytes())
    labels = [
        d.text for d in graphml.iter("{http://graphml.graphdrawing.org/xmlns}data") if d.get("key") == "label"
    ]
    assert shown in labels
    svg = ET.fromstring(export_run(run, "svg").read_bytes())
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert shown in titles
    quoted = '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert f"[label={quoted}]" in export_run(run, "dot").read_text(encoding="utf-8")


# --- labels in cohort.toml (modalities, channels, covariates)


@pytest.mark.parametrize("name", hostile_params())
def test_a_hostile_label_in_cohort_toml_is_refused_by_name_or_shown_as_plain_text(name):
    """A label is a named error (bad_label: line breaks, control characters, too long) or one clean line that
    the graph page's network, the report's SVG graph and its tables show as text, never as markup."""
    import html
    import xml.etree.ElementTree as ET

    import numpy as np

    from crl.data.labels import Labels
    from crl.data.manifest import parse_manifest
    from crl.data.text import one_line
    from crl.viz.network import latent_network_html
    from crl.viz.network_svg import latent_network_svg
    from crl.viz.report_html import table

    manifest, problems = parse_manifest(
        {
            "name": "x",
            "id": "sid",
            "modalities": {
                "sleep": {"kind": "timeseries", "path": "s.npz", "label": name, "channels": {"hr": name}},
                "eye": {"kind": "image", "path": "e"},
            },
            "covariates": {"path": "c.csv", "columns": {"age": {"label": name}}},
        }
    )
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        assert {p.check for p in errors} == {"bad_label"} and len(errors) == 3
        assert all("line break" in p.message or "characters" in p.message for p in errors)
        return
    labels = Labels.of(manifest)
    shown = [labels.modality("sleep"), labels.feature("sleep", "hr"), labels.covariate("age")]
    assert all(text == one_line(text) and 0 < len(text) <= 60 for text in shown)
    modality, channel, covariate = shown
    page = latent_network_html(
        ["sleep 1", "eye 1"],
        [modality, labels.modality("eye")],
        np.array([[0.0, 0.9], [0.0, 0.0]]),
        0.5,
        node_details=[f"Moves most with:\n{labels.driver('sleep: hr (mean over time)')} (r = +0.80)", ""],
        covariate_edges=[(covariate, 0, 0.4)],
    )
    for text in (modality, covariate):
        if "<" in text:
            assert text not in page  # in the data as \u003c, in the legend as &lt;
    assert html.escape(modality) in page  # the legend names it
    svg = ET.fromstring(latent_network_svg(["sleep 1", "eye 1"], [modality, "Eye"], np.eye(2) * 0, 0.5, []))
    assert modality in "".join(svg.itertext())
    cells = table(["Modality", "Channel"], [[modality, channel]])
    assert "<script" not in cells and html.escape(channel) in cells
