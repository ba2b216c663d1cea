"""A learned graph against the true one: matching once, SHD and the edge table at any threshold."""

import sys
from pathlib import Path

import pytest

from crl.analysis.compare import compare_graph, match_to_truth
from crl.analysis.evaluate import evaluate_run
from crl.analysis.graph import load_graph
from crl.data.synthetic import write_preset
from crl.data.truth import load_truth
from crl.errors import RunError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_factory import fake_run  # noqa: E402


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_preset("paper-case2", tmp_path_factory.mktemp("c") / "cohort", n=300, seed=4)


def test_perfect_graph_scores_zero_and_matches_crl_evaluate(tmp_path, cohort):
    run = fake_run(tmp_path / "run", cohort, noise=0.05)
    truth = load_truth(cohort)
    import pandas as pd

    latents = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")
    match = match_to_truth(latents, truth)
    assert match.mcc > 0.95
    result, table = compare_graph(match, load_graph(run).adjacency(0.5))
    assert result.total == 0 and set(table["status"]) == {"found"}
    assert len(table) == len(truth.edges)
    assert result.total == evaluate_run(run)["shd"]


def test_missing_extra_and_threshold(tmp_path, cohort):
    run = fake_run(tmp_path / "run", cohort, drop_edges=1, extra_edges=2)
    import pandas as pd

    latents = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")
    match = match_to_truth(latents, load_truth(cohort))
    graph = load_graph(run)
    result, table = compare_graph(match, graph.adjacency(0.5), labels={graph.names[0]: "<b>first</b>"})
    assert result.total == 3
    assert (table["status"] == "missing").sum() == 1 and (table["status"] == "extra").sum() == 2
    assert table["learned"].str.contains("<b>first</b>", regex=False).any()
    # Extra links sit at 0.6: a threshold of 0.65 removes them.
    stricter, _ = compare_graph(match, graph.adjacency(0.65))
    assert stricter.total == 1


def test_reversed_link_is_one_row(tmp_path, cohort):
    import numpy as np
    import pandas as pd

    run = fake_run(tmp_path / "run", cohort, noise=0.05)
    latents = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")
    match = match_to_truth(latents, load_truth(cohort))
    adjacency = load_graph(run).adjacency(0.5)
    i, j = np.argwhere(adjacency)[0]
    adjacency[i, j], adjacency[j, i] = 0, 1
    result, table = compare_graph(match, adjacency)
    assert result.reversals == 1
    assert (table["status"] == "reversed").sum() == 1 and "missing" not in set(table["status"])
    # The true side in plain words where the cohort names its latents, in the truth's direction.
    plain = {name: f"true {k}" for k, name in enumerate(match.true_names)}
    _, named = compare_graph(match, adjacency, true_labels=plain)
    reversed_row = named[named["status"] == "reversed"].iloc[0]
    source, target = (
        match.true_names.index(n) for n in table[table["status"] == "reversed"].iloc[0]["true"].split(" → ")
    )
    assert reversed_row["true"] == f"true {source} → true {target}"


def test_wrong_cohort_is_explained(tmp_path, cohort):
    other = write_preset("timeseries", tmp_path / "other", n=100, seed=0)
    run = fake_run(tmp_path / "run", other)
    import pandas as pd

    latents = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")
    with pytest.raises(RunError, match="cohort this run was trained on"):
        match_to_truth(latents, load_truth(cohort))
