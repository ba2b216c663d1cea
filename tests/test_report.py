"""The shareable report (crl.analysis.report, `crl report`, the Latent graph page's button) on a tiny really
trained run: every section, a traversal per latent, nothing loaded from a network, hostile names escaped, and
what it says when the truth or the cohort is missing."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch

from crl.analysis.confidence import Confidence
from crl.analysis.evaluate import score
from crl.analysis.names import default_name
from crl.analysis.report import build_report, compose_report
from crl.cli import main as crl_main
from crl.data.truth import load_truth
from crl.runs.run import Run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_only import read_only_maker  # noqa: E402

torch.set_num_threads(1)

PAYLOAD = "<script>alert(1)</script>"
SECTIONS = ["summary", "graph", "identifiability", "metrics", "traversals", "settings", "data"]


@pytest.fixture(scope="module")
def report(trained) -> str:
    return compose_report(trained[1], generated="2026-01-01T00:00:00+00:00").html


@pytest.fixture
def read_only(monkeypatch, request):
    return read_only_maker(monkeypatch, request)


def _copy_run(run: Path, to: Path, cohort_root: str | None = None) -> Path:
    """A copy of the run folder; with `cohort_root`, its config.json records that cohort folder instead."""
    copy = Path(shutil.copytree(run, to))
    if cohort_root is not None:
        config = json.loads((copy / "config.json").read_text())
        config["cohort"]["root"] = cohort_root
        (copy / "config.json").write_text(json.dumps(config))
    return copy


def _section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, flags=re.S)
    assert match, f"no {anchor} section"
    return match.group(1)


def test_the_report_has_every_section_and_one_traversal_per_latent(trained, report):
    cohort, run = trained
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in report
    latents = Run(run).latent_names
    figures = re.findall(r'<div id="traversal-(\d+)" class="plotly-graph-div"', report)
    assert figures == [str(k) for k in range(len(latents))]
    headings = re.findall(r'<h3 id="latent-\d+">.*?\((.*?)\)</span></h3>', report)
    assert headings == latents
    assert _section(report, "graph").count("<svg") == 1  # the graph, inline
    # The metrics are evaluate's, at the run's threshold.
    expected = score(Run(run).latents(), Run(run).graph_table(), load_truth(cohort), threshold=0.5, r2=False)
    metrics = _section(report, "metrics")
    assert f'Graph distance (SHD)</td><td class="num">{expected["shd"]}</td>' in metrics
    assert f'Latent recovery (MCC)</td><td class="num">{expected["mcc"]:.2f}</td>' in metrics
    assert f"MCC of {expected['mcc']:.2f}" in _section(report, "summary")
    # Settings as trained and the data as loaded.
    assert "<td>train.epochs</td><td>3</td>" in _section(report, "settings")
    assert "300 subjects present in every modality" in _section(report, "data")


def test_the_report_loads_nothing_from_a_network(report):
    assert not re.search(r"<script[^>]*\bsrc\s*=", report, flags=re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=", report, flags=re.I)
    assert not re.search(r"<(img|iframe|embed|object|source)\b", report, flags=re.I)
    assert not re.search(r"url\(\s*['\"]?https?:", report, flags=re.I)
    assert "@import" not in report
    # plotly.js is inlined once (its bundle names its version), not fetched; every later figure reuses it.
    assert len(re.findall(r"plotly\.js v\d", report)) == 1


def test_the_same_inputs_give_the_same_report_apart_from_its_time(trained, report):
    again = compose_report(trained[1], generated="2026-01-01T00:00:00+00:00").html
    assert again == report
    later = build_report(trained[1])
    assert "2026-01-01T00:00:00" not in later
    assert re.sub(r"Generated \S+", "", later) == re.sub(r"Generated \S+", "", report)


def test_a_hostile_latent_name_is_escaped_everywhere(trained, tmp_path):
    run = _copy_run(trained[1], tmp_path / "hostile")
    (run / "names.json").write_text(json.dumps({"names": {"m1.z0": PAYLOAD}}))
    html = build_report(run)
    assert PAYLOAD not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escaped in _section(html, "graph")  # the table and the picture
    assert re.search(r'<h3 id="latent-0">' + re.escape(escaped), html)  # the traversal's heading


def test_measured_confidence_fades_the_weak_latent_and_gives_each_link_its_frequency_and_effect(
    trained, tmp_path
):
    import numpy as np
    import pandas as pd

    from crl.runs.confidence import write_confidence, write_restart

    run = _copy_run(trained[1], tmp_path / "restarts")
    latents = Run(run).latents()
    names = list(latents.columns)
    for k in range(3):  # what restarts/<k>/ would hold; the report counts them
        write_restart(
            run, k, latents.reset_index(), names, np.zeros((len(names), len(names))), {"restart": k}
        )
    stability = pd.Series(0.95, index=names)
    stability["m2.z1"] = 0.3
    graph = Run(run).graph_table()
    kept = graph[graph["weight"] >= 0.5].iloc[0]
    edges = graph.assign(frequency=1.0, effect=np.nan)
    edges.loc[kept.name, ["frequency", "effect"]] = [2 / 3, 0.42]
    write_confidence(run, edges, stability)

    graph_part = _section(build_report(run), "graph")
    assert "Found in (of 3 restarts)" in graph_part and "Effect (SD per SD of the cause)" in graph_part
    assert '<td class="num">67%</td><td class="num">0.42</td>' in graph_part
    assert re.search(
        r"<li>M2 2: Not reliably recovered: trained again from other starting points", graph_part
    )
    circles = re.findall(r"<circle [^>]*>\s*<title>([^<]*)</title>", graph_part)
    faded = re.findall(r"<circle [^>]*stroke-dasharray[^>]*>\s*<title>([^<]*)</title>", graph_part)
    confidence = Confidence.of_run(run)  # a 3-epoch run: some latents are weak by their cross-modal share too
    weak = [default_name(n) for n in names if confidence.is_weak(n)]
    assert len(circles) == len(names) and "M2 2" in faded and faded == weak


def test_the_graph_picture_fades_only_the_weak_latents_and_their_links():
    import numpy as np

    from crl.viz.network_svg import latent_network_svg

    weights = np.array([[0, 0.9, 0], [0, 0, 0.8], [0, 0, 0]])
    svg = latent_network_svg(["a", "b", "c"], ["m1", "m1", "m2"], weights, 0.5, weak=[0])
    faded = re.findall(r"<circle [^>]*stroke-dasharray[^>]*>\s*<title>([^<]*)</title>", svg)
    assert faded == ["a"]
    links = {
        cause: opacity for opacity, cause in re.findall(r'stroke-opacity="([\d.]+)"[^>]*><title>(\S+)', svg)
    }
    assert links == {"a": "0.25", "b": "0.8"}  # a -> b touches the weak latent; b -> c does not


def test_without_truth_there_is_no_metrics_section(trained, tmp_path):
    cohort = Path(shutil.copytree(trained[0], tmp_path / "no-truth"))
    shutil.rmtree(cohort / "truth")
    html = build_report(trained[1], cohort)
    assert '<section id="metrics">' not in html
    assert "The true graph is not known for this cohort" in html
    assert '<div id="traversal-0"' in html  # the cohort is there, so the traversals are


def test_without_the_cohort_the_report_is_written_without_traversals_and_says_why(trained, tmp_path):
    run = _copy_run(trained[1], tmp_path / "moved", cohort_root=str(tmp_path / "gone"))
    result = compose_report(run)
    html = result.html
    assert "plotly-graph-div" not in html and "<script" not in html  # no figures, so no plotly.js either
    traversals = _section(html, "traversals")
    assert "No traversal figures" in traversals and "is not there any more" in traversals
    assert "--cohort DIR" in traversals
    assert any("No traversal figures" in note for note in result.notes)
    assert '<section id="metrics">' not in html
    assert "this is what the run recorded of it" in _section(html, "data")  # from config.json
    assert "<svg" in _section(html, "graph")


# ------------------------------------------------------------------------------------------------- the CLI


def test_crl_report_writes_the_file_and_refuses_what_it_must_not_touch(trained, tmp_path, capsys):
    cohort, run = trained
    out = tmp_path / "shared" / "report.html"
    assert crl_main(["report", str(run), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    config = (run / "config.json").read_bytes()
    assert crl_main(["report", str(run), "--out", str(run / "config.json")]) == 1
    assert "one of the run's own files" in capsys.readouterr().err
    assert (run / "config.json").read_bytes() == config

    inside = run / "report.html"  # a new file in the run folder, then the same report again, are fine
    assert crl_main(["report", str(run), "--out", str(inside)]) == 0
    assert crl_main(["report", str(run), "--out", str(inside)]) == 0
    capsys.readouterr()
    inside.unlink()

    assert crl_main(["report", str(cohort), "--out", str(tmp_path / "x.html")]) == 1
    assert "is not a finished run" in capsys.readouterr().err
    assert (
        crl_main(["report", str(run), "--cohort", str(tmp_path / "nope"), "--out", str(tmp_path / "x.html")])
        == 1
    )
    assert "is not a cohort folder" in capsys.readouterr().err
    assert crl_main(["report", str(run), "--out", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_crl_report_on_an_unwritable_out_folder_says_so(trained, tmp_path, capsys, read_only):
    folder = tmp_path / "locked"
    folder.mkdir()
    read_only(folder)
    assert crl_main(["report", str(trained[1]), "--out", str(folder / "report.html")]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and "nothing was written" in err
    assert list(folder.iterdir()) == []


def test_crl_report_without_the_cohort_still_writes_and_notes_why(trained, tmp_path, capsys):
    run = _copy_run(trained[1], tmp_path / "moved", cohort_root=str(tmp_path / "gone"))
    out = tmp_path / "report.html"
    assert crl_main(["report", str(run), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "note: No traversal figures" in captured.err and "wrote" in captured.out
    assert out.exists()


# ------------------------------------------------------------------------------------------------- the page


def test_the_latent_graph_page_offers_the_report_in_its_export_tab(runs, trained):
    from app_fixtures import open_page

    shutil.copytree(trained[1], runs / "tiny")
    at = open_page("pages/graph.py")
    assert not at.error
    export = next(tab for tab in at.tabs if tab.label == "Export")
    labels = [button.proto.label for button in export.get("download_button")]
    assert "Download report (HTML)" in labels
    assert len(labels) == 7  # the six graph formats and the report


def test_the_buttons_report_is_built_once_per_file_state_and_says_why_when_it_cannot_be(trained, tmp_path):
    from crl.ui.report_button import report_html

    cohort, original = trained
    run = _copy_run(original, tmp_path / "button")
    first = report_html(run, cohort)
    assert '<section id="traversals">' in first and '<div id="traversal-0"' in first
    assert report_html(run, cohort) is first  # kept: a second click builds nothing
    (run / "names.json").write_text(json.dumps({"names": {"m1.z0": "renamed latent"}}))
    assert "renamed latent" in report_html(run, cohort)  # a changed file builds it again
    # A folder that is not a cohort (the page's current one, say) is passed over for the one the run records.
    assert '<div id="traversal-0"' in report_html(run, tmp_path / "not-a-cohort")
    broken = report_html(tmp_path / "missing <run>", None)
    assert "could not be built" in broken and "is not a folder" in broken
    assert "<run>" not in broken and "&lt;run&gt;" in broken
