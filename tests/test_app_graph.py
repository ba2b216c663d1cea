"""The Latent graph page through AppTest: a hand-made run on a synthetic cohort, its controls, and bad input."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from crl.data.synthetic import write_preset
from crl.data.truth import load_truth

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_fixtures import open_page  # noqa: E402
from run_factory import fake_run  # noqa: E402

PAYLOAD = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """The demo preset: 3 modalities, covariates, plain latent names, ground truth."""
    return write_preset("demo", tmp_path_factory.mktemp("cohort") / "demo", n=200, seed=0)


def _open(**session) -> AppTest:
    return open_page("pages/graph.py", **session)


def _dataset(page: str, which: str) -> list[dict]:
    match = re.search(which + r" = new vis\.DataSet\(crlTooltips\((.*?)\)\);", page, flags=re.S)
    assert match, f"no {which} data set in the page"
    return json.loads(match.group(1))


def _page(at: AppTest) -> str:
    frames = at.get("iframe")
    assert len(frames) == 1
    return frames[0].proto.srcdoc


def _latent_edges(at: AppTest) -> list[dict]:
    return [e for e in _dataset(_page(at), "edges") if str(e["id"]).startswith("edge:")]


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_happy_path_draws_the_graph_with_plain_names_truth_and_exports(runs, cohort):
    fake_run(runs / "run-a", cohort, drop_edges=1, extra_edges=2)
    at = _open()
    assert not at.error
    page = _page(at)
    labels = {n["label"] for n in _dataset(page, "nodes") if isinstance(n["id"], int)}
    # Borrowed from truth/latent_names.csv through the matching; the fake run's latents are sign-flipped copies
    # of the true ones, so a flipped one says so.
    assert {"apnea severity", "apnea severity\n(reversed)"} & labels
    # True edges (minus one) plus the two extras at 0.6 pass the run's threshold of 0.5.
    n_true = len(load_truth(cohort).edges)
    assert len(_latent_edges(at)) == n_true - 1 + 2
    # Hover details name the observed features a latent moves with.
    titles = " ".join(n.get("title", "") for n in _dataset(page, "nodes"))
    assert "Moves most with" in titles and "mean over time" in titles
    # Learned vs true: one missing link and two extra ones.
    assert _metric(at, "SHD") == "3"
    assert len(at.get("download_button")) == 7  # GraphML, DOT, JSON, CSV, HTML, SVG and the report
    assert any("Identifiability" in box.value for box in [*at.success, *at.warning])


def test_threshold_slider_redraws_and_keeps_positions(runs, cohort):
    fake_run(runs / "run-a", cohort, drop_edges=1, extra_edges=2)
    at = _open()
    n_true = len(load_truth(cohort).edges)
    before = {n["id"]: (n["x"], n["y"]) for n in _dataset(_page(at), "nodes")}
    at.slider[0].set_value(0.65).run()
    assert not at.exception and not at.error
    assert len(_latent_edges(at)) == n_true - 1  # the extras (0.6) are gone
    assert _metric(at, "SHD") == "1"
    after = {n["id"]: (n["x"], n["y"]) for n in _dataset(_page(at), "nodes")}
    assert after == before
    at.slider[0].set_value(0.0).run()
    assert len(_latent_edges(at)) == 9 * 8  # every candidate pair has a nonzero weight


def test_cross_modal_toggle_hides_within_modality_links(runs, cohort):
    fake_run(runs / "run-a", cohort)
    at = _open()
    at.slider[0].set_value(0.0).run()
    at.toggle[0].set_value(True).run()
    nodes = {n["id"]: n for n in _dataset(_page(at), "nodes") if isinstance(n["id"], int)}
    edges = _latent_edges(at)
    assert edges and all("Across modalities" in e["title"] for e in edges)
    assert len(edges) == 9 * 8 - 3 * 3 * 2  # 3 modalities x 3 latents: 6 within-modality pairs each
    assert len(nodes) == 9


def test_dropped_link_shows_block_only_latents_with_the_witness(runs, cohort):
    """Without sleep.z2 -> fundus_left.z0, that eye latent has no cross-modal footprint of its own."""
    fake_run(runs / "run-a", cohort, drop=(("sleep.z2", "fundus_left.z0"),))
    at = _open()
    warning = " ".join(w.value for w in at.warning)
    assert "only together" in warning
    dashed = [
        n for n in _dataset(_page(at), "nodes") if isinstance(n["id"], int) and n.get("shapeProperties")
    ]
    assert dashed
    # Plain words on hover; the technical remix one click away, in the expander.
    assert all("read them as a group" in n["title"] for n in dashed)
    expander_text = " ".join(m.value for m in at.markdown)
    assert "only as a block" in expander_text and "read them as a group" in expander_text
    assert any("can be mixed without adding a cross-modal link" in c.value for c in at.caption)


def test_covariates_toggle_runs_pc_and_draws_clinical_variables(runs, cohort):
    fake_run(runs / "run-a", cohort, noise=0.1)
    at = _open()
    assert [s.label for s in at.slider] == ["Link strength threshold"]
    next(t for t in at.toggle if t.label == "Clinical covariates").set_value(True).run()
    assert not at.exception and not at.error
    assert [s.label for s in at.slider] == ["Link strength threshold", "PC significance level α"]
    covariates = [n for n in _dataset(_page(at), "nodes") if str(n["id"]).startswith("covariate:")]
    # The demo's cohort.toml labels its covariates: "age" reads "Age (years)".
    assert {"Age (years)", "Body-mass index (kg/m²)"} <= {n["label"] for n in covariates}


def test_cohort_labels_replace_raw_names_on_the_graph_page(runs, cohort, tmp_path):
    """Modalities, covariates and the features a latent moves with go by their cohort.toml labels; the raw
    names stay in the files (and one edit of cohort.toml shows at once)."""
    labelled = tmp_path / "labelled"
    shutil.copytree(cohort, labelled)
    manifest = labelled / "cohort.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace('label = "Left eye photograph"', f'label = "{PAYLOAD}"'),
        encoding="utf-8",
    )
    fake_run(runs / "run-a", labelled, noise=0.1)
    at = _open()
    next(t for t in at.toggle if t.label == "Clinical covariates").set_value(True).run()
    assert not at.exception and not at.error
    page = _page(at)
    nodes = _dataset(page, "nodes")
    headings = {n["label"] for n in nodes if str(n["id"]).startswith("modality:")}
    assert "<b>Home sleep test</b>" in headings and "<b>Right eye photograph</b>" in headings
    assert PAYLOAD in headings  # a label with markup is drawn as plain text, never as html
    assert PAYLOAD not in page and "alert(1)</script>" not in page  # escaped in the data and the legend
    hover = " ".join(n.get("title", "") for n in nodes)
    assert "Modality: Home sleep test" in hover and "Modality: sleep" not in hover
    assert "Home sleep test: Heart rate (mean over time)" in hover or "Home sleep test: Snoring" in hover
    assert "heart_rate" not in hover and "fundus_left" not in hover
    covariates = {n["label"] for n in nodes if str(n["id"]).startswith("covariate:")}
    assert "Age (years)" in covariates and "age" not in covariates
    frames = [f.value for f in at.dataframe]
    latents = next(f for f in frames if "Can it be believed?" in f.columns)
    assert set(latents["Modality"]) == {"Home sleep test", PAYLOAD, "Right eye photograph"}
    clinical = next(f for f in frames if "Clinical variable" in f.columns)
    assert "Age (years)" in set(clinical["Clinical variable"]) and "age" not in set(
        clinical["Clinical variable"]
    )


def test_the_graph_and_its_covariates_open_without_loading_the_modalities(runs, cohort, monkeypatch):
    """Hover text, the covariate switch and PC need cohort.toml, the covariates table and the run's files only:
    decoding every photograph took 2 s on the demo."""
    from crl.ui import cache

    fake_run(runs / "run-a", cohort, noise=0.1)

    def refuse(*_args, **_kwargs):
        raise AssertionError("the graph page loaded every modality of the cohort")

    monkeypatch.setattr(cache, "_load", refuse)
    at = _open()
    next(t for t in at.toggle if t.label == "Clinical covariates").set_value(True).run()
    assert not at.exception and not at.error
    assert any(str(n["id"]).startswith("covariate:") for n in _dataset(_page(at), "nodes"))


def test_sparsity_control_appears_only_with_a_path(runs, cohort):
    fake_run(runs / "plain", cohort)
    at = _open()
    assert len(at.select_slider) == 0
    fake_run(runs / "with-path", cohort, sparsity_path=True)
    at = _open(run_dir=str(runs / "with-path"))
    assert len(at.select_slider) == 1
    full = len(_latent_edges(at))
    counts = next(c.value for c in at.caption if "by sparsity weight" in c.value)
    assert counts.startswith(
        f"Links at ≥ 0.5 by sparsity weight: as trained {full}, 0.001 "
    )  # each level's count
    at.select_slider[0].set_value("0.1").run()  # weights lowered by 0.5: nothing passes 0.5 any more
    assert not at.exception and not at.error
    assert len(_latent_edges(at)) < full


def test_latent_names_are_escaped_in_the_network(runs, cohort):
    run = fake_run(runs / "run-a", cohort)
    (run / "names.json").write_text(json.dumps({"names": {"sleep.z0": PAYLOAD, "sleep.z1": "a & b"}}))
    at = _open()
    page = _page(at)
    assert PAYLOAD not in page and "alert(1)</script>" not in page
    # Long labels wrap onto two lines; labels are vis-network plain text, so '<' and '&' show as typed.
    nodes = {n["label"].replace("\n", ""): n for n in _dataset(page, "nodes") if isinstance(n["id"], int)}
    node = nodes[PAYLOAD]
    assert "&lt;script&gt;alert(1)&lt;/" in node["title"] and "<script" not in node["title"]
    assert "a & b" in nodes


def test_saving_names_from_the_editor_writes_names_json(runs, cohort):
    run = fake_run(runs / "run-a", cohort)
    at = _open()
    editor = next(e for e in at.dataframe if "names-editor" in str(e.key))
    at.session_state[editor.key] = {
        "edited_rows": {0: {"name": "Breathing"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    next(b for b in at.button if b.label == "Save names").click().run()
    assert not at.exception and not at.error
    stored = json.loads((run / "names.json").read_text())["names"]
    assert list(stored.values()) == ["Breathing"]
    assert any("Names saved" in s.value for s in at.success)
    labels = {n["label"] for n in _dataset(_page(at), "nodes")}
    assert "Breathing" in labels


def test_duplicate_name_is_refused_with_a_message(runs, cohort):
    run = fake_run(runs / "run-a", cohort)
    at = _open()
    editor = next(e for e in at.dataframe if "names-editor" in str(e.key))
    at.session_state[editor.key] = {
        "edited_rows": {0: {"name": "x"}, 1: {"name": "X"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    next(b for b in at.button if b.label == "Save names").click().run()
    assert not at.exception
    assert any("own name" in e.value for e in at.error)
    assert not (run / "names.json").exists()


def _save_edits(at: AppTest, rows: dict) -> AppTest:
    editor = next(e for e in at.dataframe if "names-editor" in str(e.key))
    at.session_state[editor.key] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    return next(b for b in at.button if b.label == "Save names").click().run()


@pytest.mark.hostile
def test_an_over_long_name_is_refused_with_a_message(runs, cohort):
    run = fake_run(runs / "run-a", cohort)
    at = _save_edits(_open(), {0: {"name": "breathing " * 8}})  # 79 characters; the cell's limit is 60
    assert not at.exception
    assert any("at most 60 characters" in e.value for e in at.error)
    assert not (run / "names.json").exists()


@pytest.mark.hostile
@pytest.mark.parametrize("typed", ["", "    "], ids=["empty", "spaces-only"])
def test_a_blank_name_goes_back_to_the_default_with_a_message(runs, cohort, typed):
    run = fake_run(runs / "run-a", cohort)
    at = _save_edits(_open(), {0: {"name": "Breathing"}})
    at = _save_edits(at, {0: {"name": typed}})
    assert not at.exception and not at.error
    assert any("went back to the default" in s.value for s in at.success)
    assert "Breathing" not in (run / "names.json").read_text()


def test_corrupt_graph_shows_a_readable_error(runs, cohort):
    run = fake_run(runs / "run-a", cohort)
    (run / "graph.csv").write_text("source,target,weight\nsleep.z0,sleep.z1,strong\n")
    at = _open()
    assert not at.exception
    message = " ".join(e.value for e in at.error).replace("\\", "")
    assert "graph.csv" in message and "retrain" in message and "Traceback" not in message


def test_run_without_graph_points_to_the_train_page(runs, cohort):
    run = fake_run(runs / "run-a", cohort)
    (run / "graph.csv").unlink()
    # Unfinished runs are not offered for browsing, but one picked elsewhere (e.g. on the Train page) explains.
    at = _open(run_dir=str(run))
    assert not at.exception and not at.error
    assert any("no learned graph yet" in w.value for w in at.warning)


def test_no_run_explains_and_links_to_training(runs):
    at = _open()
    assert not at.error
    assert any("no trained model yet" in i.value for i in at.info)
    assert len(at.get("page_link")) == 1


def test_cohort_without_truth_or_covariates_hides_those_panels(runs, cohort, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(cohort, bare)
    fake_run(runs / "run-a", bare)
    shutil.rmtree(bare / "truth")
    at = _open()
    assert not at.error
    assert [t.label for t in at.tabs] == ["Adjacency matrix", "Tables", "Side by side", "Export"]
    assert not any(m.label == "SHD" for m in at.metric)


def test_the_tables_list_every_latent_and_every_drawn_link(runs, cohort):
    fake_run(runs / "run-a", cohort, drop_edges=1, extra_edges=2)
    at = _open()
    assert not at.error
    frames = [f.value for f in at.dataframe]
    latents = next(f for f in frames if "Can it be believed?" in f.columns)
    links = next(f for f in frames if "Cause" in f.columns)
    nodes = [n["label"] for n in _dataset(_page(at), "nodes") if isinstance(n["id"], int)]
    assert len(latents) == len(nodes)  # the table has the full names the nodes wrap and shorten
    assert all(any(name.startswith(node.split("\n")[0]) for name in latents["Latent"]) for node in nodes)
    assert len(links) == len(_latent_edges(at)) and links["Strength"].min() >= 0.5


def test_damaged_config_and_names_degrade_with_messages(runs, cohort):
    run = fake_run(runs / "run-a", cohort)
    (run / "config.json").write_text("{oops")
    (run / "names.json").write_text("{oops")
    at = _open()
    assert not at.exception
    assert any("config.json" in w.value.replace("\\", "") for w in at.warning)
    assert any("names.json" in e.value.replace("\\", "") for e in at.error)
    assert len(at.get("iframe")) == 1  # the graph is still drawn, with default names
    assert at.slider[0].value == 0.5


def test_a_run_with_restarts_fades_unreliable_latents_and_says_how_often_links_were_found(runs, cohort):
    import pandas as pd

    from crl.runs.confidence import write_confidence, write_restart

    run = fake_run(runs / "run-confidence", cohort)
    graph = pd.read_csv(run / "graph.csv")
    latents = pd.read_csv(run / "latents.csv", dtype={"subject_id": str})
    names = [c for c in latents.columns if c != "subject_id"]
    for k in range(3):  # what restarts/<k>/ would hold; the count is what the page reports
        write_restart(run, k, latents, names, np.zeros((len(names), len(names))), {"restart": k})
    weak = names[0]
    stability = pd.Series(0.95, index=names)
    stability[weak] = 0.3
    kept = graph[graph["weight"] >= 0.5].iloc[0]
    edges = graph.assign(frequency=0.0, effect=np.nan)
    edges.loc[kept.name, ["frequency", "effect"]] = [2 / 3, 0.42]
    write_confidence(run, edges, stability)

    at = _open()
    assert not at.exception
    page = _page(at)
    nodes = {n["id"]: n for n in _dataset(page, "nodes") if isinstance(n["id"], int)}
    faded = nodes[names.index(weak)]
    assert "Not reliably recovered" in faded["title"] and faded["font"]["color"] == "#8A949E"
    assert all("Not reliably recovered" not in n["title"] for i, n in nodes.items() if i != names.index(weak))
    edge = next(
        e
        for e in _latent_edges(at)
        if (e["from"], e["to"]) == (names.index(kept.source), names.index(kept.target))
    )
    assert "Found in 67% of 3 restarts" in edge["title"] and "Effect: +0.42 SD" in edge["title"]
    assert edge["width"] <= 1.0 + 5.0 * 0.15 + 1e-9  # found in 2 of 3 restarts: drawn faint
    assert any("Not reliably recovered" in w.value for w in at.warning)
    assert "not reliably recovered" in page  # the legend explains the faded dot


def test_side_by_side_draws_another_run_in_this_runs_latent_names(runs, cohort):
    fake_run(runs / "run-b", cohort, seed=1, drop_edges=1)
    fake_run(runs / "run-a", cohort)  # the newest, so the page opens on it
    at = _open(run_dir=str(runs / "run-a"))
    assert len(at.get("iframe")) == 1  # nothing is compared until asked
    picker = next(s for s in at.selectbox if s.label == "Compare with")
    picker.set_value("run-b").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    frames = at.get("iframe")
    assert len(frames) == 3
    left = {n["label"] for n in _dataset(frames[1].proto.srcdoc, "nodes") if isinstance(n["id"], int)}
    right = {n["label"] for n in _dataset(frames[2].proto.srcdoc, "nodes") if isinstance(n["id"], int)}
    assert right == left  # every latent of run-b matched, and drawn under run-a's name
    found = next(d.value["Found"] for d in at.dataframe if "Found" in d.value.columns)
    assert (found == "in both").sum() >= 1 and (
        found == "only on the left"
    ).sum() == 1  # run-b dropped one link


def test_confidence_written_while_the_page_is_open_shows_at_its_next_rerun(runs, cohort):
    """A confidence job finishing in the background: the page's cache is keyed on the files' stamps, so the
    next rerun shows it without a restart of the server."""
    import pandas as pd

    from crl.runs.confidence import write_confidence, write_restart

    run = fake_run(runs / "run-later", cohort)
    at = _open()
    assert "Not reliably recovered" not in _page(at) and "restarts" not in " ".join(
        e["title"] for e in _latent_edges(at)
    )
    latents = pd.read_csv(run / "latents.csv", dtype={"subject_id": str})
    names = [c for c in latents.columns if c != "subject_id"]
    for k in range(4):
        write_restart(run, k, latents, names, np.zeros((len(names), len(names))), {"restart": k})
    stability = pd.Series(0.95, index=names)
    stability[names[0]] = 0.2
    graph = pd.read_csv(run / "graph.csv")
    write_confidence(run, graph.assign(frequency=0.75, effect=0.3), stability)
    at.run()
    assert not at.exception
    assert "Not reliably recovered" in _page(at)
    assert all("Found in 75% of 4 restarts" in e["title"] for e in _latent_edges(at))
