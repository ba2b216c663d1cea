"""Judging links by effect size on the Latent graph page: a really trained tiny run, links drawn by effect."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
from app_fixtures import open_page

from crl.analysis.effects import link_effects
from crl.runs.checkpoint import load_run
from crl.runs.run import Run


def _edges(at) -> list[dict]:
    page = at.get("iframe")[0].proto.srcdoc
    match = re.search(r"edges = new vis\.DataSet\(crlTooltips\((.*?)\)\);", page, flags=re.S)
    return [e for e in json.loads(match.group(1)) if str(e["id"]).startswith("edge:")]


def test_links_judged_by_effect_size_follow_the_models_effects(runs, trained):
    _, run = trained
    shutil.copytree(run, runs / "tiny")
    at = open_page("pages/graph.py")
    assert not at.exception and not at.error
    control = at.get("button_group")[0]
    assert [o.content for o in control.proto.options] == ["Strength", "Effect size"]
    control.set_value("Effect size").run()
    assert not at.exception and not at.error
    slider = next(s for s in at.slider if s.label.startswith("Minimum effect"))
    model = load_run(runs / "tiny")[0]
    latents = Run(runs / "tiny").latents().loc[:, model.latent_names].to_numpy(np.float32)
    effects = link_effects(model, latents, Run(runs / "tiny").threshold())
    for minimum in (0.0, float(np.nanmax(np.abs(effects))) / 2):
        slider.set_value(round(minimum, 2)).run()
        kept = np.isfinite(effects) & (effects != 0) & (np.abs(effects) >= round(minimum, 2))
        expected = {(int(i), int(j)) for i, j in zip(*np.nonzero(kept), strict=True)}
        drawn = {(e["from"], e["to"]) for e in _edges(at)}
        assert drawn == expected
        assert all("Effect, SD per SD of the cause" in e["title"] for e in _edges(at))
    assert any("effect size" in c.value for c in at.caption)  # the export says what its weights are
