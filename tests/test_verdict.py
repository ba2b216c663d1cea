"""The one-sentence verdict on a run against the truth: grades per modality, links across modalities."""

from __future__ import annotations

from crl.analysis.verdict import verdict


def test_the_verdict_grades_each_modality_and_counts_the_cross_modal_errors():
    scores = {
        "mcc_per_modality": {"sleep": 0.71, "fundus_left": 0.08, "fundus_right": 0.19, "labs": 0.93},
        "graph": {"cross": {"additions": 1, "deletions": 5, "reversals": 0}},
    }
    assert verdict(scores) == (
        "Labs: recovered (MCC 0.93). Sleep: partly recovered (0.71). Fundus left and fundus right: not "
        "recovered (0.08, 0.19). Across modalities the graph has 1 extra, 5 missing and 0 reversed links "
        "against the truth."
    )


def test_a_run_without_graph_scores_gets_only_the_latents_verdict():
    assert verdict({"mcc_per_modality": {"m1": 0.8, "m2": 0.85}}) == "M1 and m2: recovered (MCC 0.80, 0.85)."
