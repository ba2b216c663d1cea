"""Cross-modal share: a latent the other modalities predict is backed by the data, one they do not is flagged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crl.analysis.confidence import Confidence
from crl.analysis.cross_modal import WEAK_CROSS_MODAL, cross_modal_share
from crl.analysis.export import to_graphml, to_json


def _latents(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cause = rng.standard_normal(n)
    return pd.DataFrame(
        {
            "sleep.z0": cause,
            "sleep.z1": rng.standard_normal(n),  # nothing outside sleep knows it
            "eye.z0": np.tanh(cause) + cause**2 / 3 + 0.3 * rng.standard_normal(n),  # bent: squares help
            "eye.z1": rng.standard_normal(n),
        },
        index=pd.Index([f"s{i}" for i in range(n)], name="subject_id"),
    )


def test_a_latent_with_a_footprint_elsewhere_has_a_share_and_an_orphan_has_none():
    share = cross_modal_share(_latents())
    assert share["sleep.z0"] > 3 * WEAK_CROSS_MODAL and share["eye.z0"] > 3 * WEAK_CROSS_MODAL
    assert share["sleep.z1"] < WEAK_CROSS_MODAL and share["eye.z1"] < WEAK_CROSS_MODAL
    assert cross_modal_share(_latents(), seed=0).equals(share)  # seeded folds: the same numbers every time


def test_one_modality_or_too_few_subjects_measure_nothing():
    latents = _latents()
    assert cross_modal_share(latents[["sleep.z0", "sleep.z1"]]).isna().all()
    assert cross_modal_share(latents.iloc[:20]).isna().all()
    with_gaps = latents.copy()
    with_gaps.iloc[:5, 0] = np.nan  # incomplete subjects are left out, not fatal
    assert cross_modal_share(with_gaps)["sleep.z0"] > 3 * WEAK_CROSS_MODAL


def test_a_run_trained_once_is_judged_by_its_share_alone(tmp_path):
    _latents().reset_index().to_csv(tmp_path / "latents.csv", index=False)
    confidence = Confidence.of_run(tmp_path)
    assert confidence is not None and not confidence.has_restarts and confidence.restarts == 0
    assert not confidence.is_weak("sleep.z0")
    reason = confidence.weak_reason("sleep.z1")
    assert reason is not None and "other modalities predict" in reason and "Do not interpret" in reason
    assert confidence.stability_of("sleep.z1") is None
    assert np.isnan(confidence.link("sleep.z0", "eye.z0")[0])  # no restarts: no frequency


@pytest.mark.parametrize("writer", [to_json, to_graphml])
def test_exports_carry_the_share_of_a_run_trained_once(tmp_path, writer):
    from crl.analysis.graph import LatentGraph

    _latents().reset_index().to_csv(tmp_path / "latents.csv", index=False)
    confidence = Confidence.of_run(tmp_path)
    names = ["sleep.z0", "sleep.z1", "eye.z0", "eye.z1"]
    weights = np.zeros((4, 4))
    weights[0, 2] = 0.9
    graph = LatentGraph(tuple(names), weights)
    text = writer(graph, 0.5, None, confidence)
    if writer is to_json:
        nodes = {n["id"]: n for n in json.loads(text)["nodes"]}
        assert (
            nodes["sleep.z0"]["cross_modal"] > 3 * WEAK_CROSS_MODAL and "stability" not in nodes["sleep.z0"]
        )
        assert "frequency" not in json.loads(text)["edges"][0]
    else:
        assert 'attr.name="cross_modal"' in text and 'attr.name="frequency"' not in text
