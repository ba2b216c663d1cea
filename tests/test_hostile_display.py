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
