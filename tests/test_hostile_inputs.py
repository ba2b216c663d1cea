"""Hostile inputs outside the cohort validator's own table: each gets a named error, never a traceback."""

from __future__ import annotations

import pytest
from cohort_factory import make_cohort
from hostile_names import hostile_params

from crl.cli import main
from crl.errors import ConfigError

pytestmark = pytest.mark.hostile

DEEP_TOML = "x = " + "[" * 500 + "]" * 500 + "\n"
DEEP_JSON = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(("text", "file_format"), [(DEEP_TOML, "toml"), (DEEP_JSON, "json")])
def test_deeply_nested_configuration_file_is_a_config_error(text, file_format):
    from crl.ui.config_file import parse_config_text

    with pytest.raises(ConfigError, match="nests tables or lists too deeply"):
        parse_config_text(text, file_format)


def test_deeply_nested_manifest_keeps_the_sidebar_label_and_fails_validate_cleanly(tmp_path, capsys):
    from crl.ui.state import cohort_label

    root = make_cohort(tmp_path)
    (root / "cohort.toml").write_text(DEEP_TOML)
    assert cohort_label(root) == root.name
    assert main(["validate", str(root)]) == 1
    err = capsys.readouterr()
    assert "nests arrays or tables too deeply" in err.out + err.err
    assert "Traceback" not in err.out + err.err


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
