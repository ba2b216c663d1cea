"""Agreement between runs: latents matched within modalities (order and sign free), stability, link frequency."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crl.analysis.stability import agreement_pick, latent_stability, link_frequency, match_latents

NAMES = ["a.z0", "a.z1", "b.z0", "b.z1"]


def _run(values: np.ndarray, columns=NAMES) -> pd.DataFrame:
    return pd.DataFrame(values, index=[f"s{i}" for i in range(len(values))], columns=columns)


@pytest.fixture
def truth():
    return np.random.default_rng(0).normal(size=(400, 4))


def test_matching_undoes_order_and_sign_within_each_modality(truth):
    reference = _run(truth)
    # The other run swapped a's two latents, flipped b.z0, and is a little noisy.
    other_values = np.column_stack([truth[:, 1], truth[:, 0], -truth[:, 2], truth[:, 3]])
    other_values += 0.1 * np.random.default_rng(1).normal(size=truth.shape)
    matched = match_latents(reference, _run(other_values))
    assert {k: (m.latent, m.sign) for k, m in matched.items()} == {
        "a.z0": ("a.z1", 1),
        "a.z1": ("a.z0", 1),
        "b.z0": ("b.z0", -1),
        "b.z1": ("b.z1", 1),
    }
    assert all(m.correlation > 0.95 for m in matched.values())


def test_a_latent_the_runs_disagree_on_has_low_stability(truth):
    rng = np.random.default_rng(2)
    reference = _run(truth)
    others = []
    for _ in range(3):
        values = truth + 0.05 * rng.normal(size=truth.shape)
        values[:, 3] = rng.normal(size=len(truth))  # b.z1 is different in every other run
        others.append(_run(values))
    stability = latent_stability(reference, others)
    assert stability[["a.z0", "a.z1", "b.z0"]].min() > 0.99
    assert stability["b.z1"] < 0.2


def test_agreement_pick_prefers_the_run_most_like_the_others(truth):
    rng = np.random.default_rng(3)
    good = [_run(truth + 0.05 * rng.normal(size=truth.shape)) for _ in range(3)]
    odd = _run(rng.normal(size=truth.shape))
    assert agreement_pick([odd, *good]) != 0
    assert agreement_pick([good[0]]) == 0


def test_link_frequency_carries_links_through_the_matching(truth):
    reference = _run(truth)
    swapped = _run(np.column_stack([truth[:, 1], truth[:, 0], truth[:, 2], truth[:, 3]]))
    pairs = [(s, t) for s in NAMES for t in NAMES if s != t]

    def graph(links):
        return pd.DataFrame(
            [(s, t, 0.9 if (s, t) in links else 0.1) for s, t in pairs],
            columns=["source", "target", "weight"],
        )

    ref_edges = graph({("a.z0", "b.z0"), ("a.z1", "b.z1")})
    # In the swapped run the same true link a.z0 -> b.z0 is named a.z1 -> b.z0; a.z1 -> b.z1 is missing.
    other_edges = graph({("a.z1", "b.z0")})
    table = link_frequency(ref_edges, [(other_edges, match_latents(reference, swapped))], threshold=0.5)
    freq = {(s, t): f for s, t, f in zip(table["source"], table["target"], table["frequency"], strict=True)}
    assert freq[("a.z0", "b.z0")] == 1.0
    assert freq[("a.z1", "b.z1")] == 0.5
    assert freq[("b.z0", "a.z0")] == 0.0


def test_runs_without_shared_subjects_are_refused(truth):
    a = _run(truth[:5])
    b = _run(truth[:5]).set_axis([f"t{i}" for i in range(5)])
    with pytest.raises(ValueError, match="share fewer than 3 subjects"):
        match_latents(a, b)


@pytest.mark.slow
def test_crl_stability_trains_the_missing_restarts_and_writes_the_confidence(tmp_path, capsys):
    from crl.cli import main
    from crl.runs.confidence import read_confidence, read_restarts

    cohort, run = tmp_path / "cohort", tmp_path / "run"
    assert main(["synth", "paper-case1", "--out", str(cohort), "--n", "200"]) == 0
    fast = [
        *("--set", "train.epochs=3", "--set", "train.min_epochs=1", "--set", "train.batch_size=50"),
        *("--set", "train.min_steps=0"),
    ]
    assert main(["train", str(cohort), "--out", str(run), "--device", "cpu", *fast]) == 0
    latents_before = (run / "latents.csv").read_bytes()
    capsys.readouterr()
    assert main(["stability", str(run), "--restarts", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r.index for r in read_restarts(run)] == [0, 1, 2]
    assert (run / "latents.csv").read_bytes() == latents_before  # the run shown is unchanged
    edges, stability = read_confidence(run)
    assert report["latent_stability"] == pytest.approx(
        stability.to_dict(), rel=1e-5
    )  # the file keeps 6 digits
    assert np.allclose(edges["frequency"] * 3, np.round(edges["frequency"] * 3))  # shares of 3 restarts
    # A second call finds every restart already there and trains nothing.
    assert main(["stability", str(run), "--restarts", "3"]) == 0
    assert "training restart" not in capsys.readouterr().err


def test_crl_stability_refuses_a_folder_that_is_not_a_finished_run(tmp_path, capsys):
    from crl.cli import main

    assert main(["stability", str(tmp_path), "--restarts", "3"]) == 1
    assert "not a finished run" in capsys.readouterr().err
    assert main(["stability", str(tmp_path), "--restarts", "1"]) == 1


def test_side_by_side_names_the_right_runs_links_in_the_left_runs_latents(truth):
    from crl.analysis.stability import compare_links

    left = _run(truth)
    right = _run(np.column_stack([truth[:, 1], truth[:, 0], truth[:, 2], truth[:, 3]]))  # a's latents swapped
    pairs = [(s, t) for s in NAMES for t in NAMES if s != t]

    def graph(links):
        return pd.DataFrame(
            [(s, t, 0.9 if (s, t) in links else 0.1) for s, t in pairs],
            columns=["source", "target", "weight"],
        )

    matching, table = compare_links(
        left,
        graph({("a.z0", "b.z0"), ("a.z1", "b.z1")}),
        right,
        graph({("a.z1", "b.z0"), ("b.z0", "b.z1")}),
        0.5,
    )
    assert matching["a.z1"].latent == "a.z0"
    where = {(s, t): w for s, t, w in zip(table["source"], table["target"], table["where"], strict=True)}
    assert where == {("a.z0", "b.z0"): "both", ("a.z1", "b.z1"): "only left", ("b.z0", "b.z1"): "only right"}
