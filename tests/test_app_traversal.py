"""The Traversal page through AppTest: a tiny really trained run, its controls, and damaged or missing runs."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import torch
from app_fixtures import open_page
from run_factory import tiny_training  # noqa: F401 - callers import it here
from streamlit.testing.v1 import AppTest

torch.set_num_threads(1)

MOVE = "Move this latent only"
INTERVENE = "Intervene: effects follow the graph"


def _open(**session) -> AppTest:
    return open_page("pages/traversal.py", timeout=90, **session)


def _badges(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if "badge" in m.value)


def _highlighted(spec: str) -> int:
    """The step drawn large in the first tabular panel (traversal_figure marks the current value)."""
    sizes = json.loads(spec)["data"][0]["marker"]["size"]
    if isinstance(sizes, dict):  # plotly's typed-array encoding: {"dtype": "f8", "bdata": base64}
        sizes = np.frombuffer(base64.b64decode(sizes["bdata"]), dtype=sizes["dtype"])
    return int(np.argmax(sizes))


def test_traversal_and_intervention_happy_path(runs, trained):
    cohort, run = trained
    shutil.copytree(run, runs / "tiny")
    at = _open()
    assert not at.error, [e.value for e in at.error]
    charts = at.get("plotly_chart")
    assert len(charts) == 1  # only the moved latent's modality changes; the other is folded into one line
    badges = _badges(at)
    assert "changes] **M1**" in badges and "unchanged] **M2**" in badges

    value = next(s for s in at.select_slider if s.label == "Current value")
    first = _highlighted(charts[0].proto.spec)
    value.set_value(0).run()
    assert not at.exception and not at.error
    assert _highlighted(at.get("plotly_chart")[0].proto.spec) == 0 != first

    at.radio[0].set_value(INTERVENE).run()
    next(s for s in at.select_slider if s.label == "Current value").set_value(6).run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "downstream" in text and "M2 1" in text  # the required link carries the intervention to m2.z0
    table = at.dataframe[0].value
    assert table["Latent"].iloc[0] == "M1 1" and "M2 1" in list(table["Latent"])
    assert abs(table["Change"].iloc[0]) > 0
    assert "changes] **M1**" in _badges(at) and "changes] **M2**" in _badges(at)
    assert len(at.get("plotly_chart")) == 4  # what changed in both modalities, then both across the range

    # A low threshold lets weak links close a cycle: a readable warning, no traceback.
    at.slider[0].set_value(0.05).run()
    assert not at.exception
    warning = next(w.value for w in at.warning if "cycle" in w.value)
    assert "or more the links form no cycle" in warning


def test_corrupt_checkpoint_shows_a_readable_error(runs, trained):
    _, run = trained
    shutil.copytree(run, runs / "damaged")
    (runs / "damaged" / "model.pt").write_bytes(b"not a checkpoint")
    at = _open()
    assert not at.exception
    assert at.error and "damaged or not a crl checkpoint" in at.error[0].value
    assert not at.get("plotly_chart")


def test_run_without_model_and_no_runs_point_to_the_train_page(runs, trained):
    at = _open()
    assert "no trained model yet" in at.info[0].value
    assert at.get("page_link")

    _, run = trained
    (runs / "unfinished").mkdir()
    for name in ("config.json", "graph.csv", "latents.csv"):  # a graph to browse, but no model weights
        shutil.copy(run / name, runs / "unfinished" / name)
    at = _open()
    assert not at.exception and not at.error
    assert "has no trained model yet" in at.warning[0].value
    assert at.get("page_link")


def test_a_latent_the_restarts_disagree_on_is_flagged_before_its_traversal(runs, trained):
    import pandas as pd

    from crl.runs.confidence import write_confidence, write_restart

    cohort, run = trained
    copy = runs / "tiny-restarts"
    shutil.copytree(run, copy)
    latents = pd.read_csv(copy / "latents.csv", dtype={"subject_id": str})
    names = [c for c in latents.columns if c != "subject_id"]
    for k in range(2):
        write_restart(copy, k, latents, names, np.zeros((len(names), len(names))), {"restart": k})
    graph = pd.read_csv(copy / "graph.csv")
    write_confidence(
        copy, graph.assign(frequency=0.5, effect=np.nan), pd.Series([0.3, 0.95, 0.95, 0.95], index=names)
    )
    at = _open()
    assert not at.exception
    latent = at.selectbox(key=f"traversal-latent:{copy}")
    warnings = [w.value for w in at.warning if "not reliably recovered" in w.value.lower()]
    assert (
        latent.value == 0 and warnings and "agreement 0.30" in warnings[0]
    )  # the first latent, m1.z0, is weak
    latent.set_value(1).run()
    assert not [w for w in at.warning if "not reliably recovered" in w.value.lower()]
