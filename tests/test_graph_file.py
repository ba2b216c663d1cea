"""graph.csv has one writer and one reader (crl.runs.graph_file, format in crl.graphs.edge_table): names that need
CSV quoting round-trip, ordinary names are written exactly as before, and every reader goes through them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crl.analysis.evaluate import read_run
from crl.analysis.graph import load_graph, load_level_graph
from crl.data.truth import load_truth
from crl.graphs.edge_table import edge_table_text, read_edge_table, weighted_edges_text
from crl.runs.files import GRAPH_FILE, LATENTS_FILE
from crl.runs.folder import RunFolder
from crl.runs.graph_file import read_graph, write_graph
from crl.runs.run import Run

# Modality names a user may well type: a comma, a quote, a line break, a carriage return, CSV-looking text.
AWKWARD = [
    "sleep, deep.z0",
    'say "hi".z0',
    "two\nlines.z0",
    "carriage\rreturn.z0",
    'all, "of"\r\nthem.z1',
    "NA.z0",
    "plain.z0",
]


def _strengths(n: int) -> np.ndarray:
    strengths = np.random.default_rng(0).random((n, n))
    np.fill_diagonal(strengths, 0.0)
    return strengths


def _off_diagonal(a: np.ndarray) -> np.ndarray:
    return a[~np.eye(len(a), dtype=bool)]


def test_ordinary_names_are_written_byte_for_byte_as_before(tmp_path):
    names = ["sleep.z0", "sleep.z1", "labs.z0"]
    strengths = _strengths(3)
    strengths[0, 1], strengths[1, 2] = np.nan, 1e-9
    RunFolder(tmp_path).write_graph(names, strengths)
    before = ["source,target,weight"] + [
        f"{s},{t},{float(strengths[i, j]):.6g}"
        for i, s in enumerate(names)
        for j, t in enumerate(names)
        if i != j
    ]
    assert (tmp_path / GRAPH_FILE).read_text(encoding="utf-8") == "\n".join(before) + "\n"


def test_truth_edges_are_written_as_pandas_wrote_them():
    edges = [("sleep.z0", "labs.z1"), ("labs.z1", "eye.z0")]
    for rows in (edges, []):
        expected = pd.DataFrame(rows, columns=["source", "target"]).to_csv(index=False, lineterminator="\n")
        assert edge_table_text(("source", "target"), rows) == expected


def test_awkward_names_round_trip_through_graph_csv(tmp_path):
    strengths = _strengths(len(AWKWARD))
    write_graph(tmp_path, AWKWARD, strengths)
    table = read_graph(tmp_path)
    assert list(table.columns) == ["source", "target", "weight"]
    assert len(table) == len(AWKWARD) * (len(AWKWARD) - 1)
    assert list(dict.fromkeys([*table["source"], *table["target"]])) == AWKWARD
    graph = load_graph(tmp_path)  # no latents.csv: names in order of first appearance
    assert list(graph.names) == AWKWARD
    np.testing.assert_allclose(_off_diagonal(graph.weights), _off_diagonal(strengths), rtol=1e-5)


def test_awkward_names_round_trip_with_latents_csv(tmp_path):
    names = [n for n in AWKWARD if "\r" not in n]  # latents.csv is pandas' CSV; it keeps \n but not a lone \r
    strengths = _strengths(len(names))
    run = RunFolder(tmp_path)
    run.write_graph(names, strengths)
    run.write_latents(pd.DataFrame({"subject_id": ["S1", "S2"], **{n: [0.1, 0.2] for n in reversed(names)}}))
    found = Run(tmp_path)
    assert found.latent_names == list(reversed(names))
    graph = load_graph(tmp_path)
    assert list(graph.names) == list(reversed(names))
    i, j = graph.names.index(names[0]), graph.names.index(names[1])
    assert graph.weights[i, j] == pytest.approx(strengths[0, 1], rel=1e-5)
    _, latents, edges = read_run(tmp_path)
    assert list(latents.columns) == list(reversed(names))
    assert set(edges["source"]) == set(names)


def test_sparsity_level_graph_is_read_the_same_way(tmp_path):
    level = tmp_path / "path" / "0"
    write_graph(level, AWKWARD, _strengths(len(AWKWARD)))
    assert list(load_level_graph(tmp_path, level).names) == AWKWARD
    with pytest.raises(Exception, match="sparsity path of this run is incomplete"):
        load_level_graph(tmp_path, tmp_path / "path" / "1")


def test_missing_weights_stay_missing_and_names_never_do(tmp_path):
    (tmp_path / GRAPH_FILE).write_text("source,target,weight\nNA,null,nan\nnull,NA,\n", encoding="utf-8")
    table = read_edge_table(tmp_path / GRAPH_FILE)
    assert list(table["source"]) == ["NA", "null"] and list(table["target"]) == ["null", "NA"]
    assert table["weight"].isna().all()


def test_truth_graph_with_awkward_modality_names_round_trips(tmp_path):
    names = ["sleep, deep.z0", 'say "hi".z0', "plain.z0"]
    truth = tmp_path / "truth"
    truth.mkdir()
    pd.DataFrame({"subject_id": ["S1"], **{n: [0.0] for n in names}}).to_csv(
        truth / LATENTS_FILE, index=False
    )
    edges = [(names[0], names[1]), (names[1], names[2])]
    (truth / GRAPH_FILE).write_text(edge_table_text(("source", "target"), edges), encoding="utf-8")
    loaded = load_truth(tmp_path)
    assert loaded.edges == edges and loaded.latent_names == names


def test_written_graph_matches_weighted_edges_text(tmp_path):
    names = ["a.z0", "b,c.z0"]
    strengths = _strengths(2)
    write_graph(tmp_path, names, strengths)
    assert (tmp_path / GRAPH_FILE).read_text(encoding="utf-8") == weighted_edges_text(names, strengths)
    assert '"b,c.z0"' in (tmp_path / GRAPH_FILE).read_text(encoding="utf-8")
