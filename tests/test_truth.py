"""Ground truth folders: load_truth reads latents and graph, and explains what is wrong when it cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crl.data.truth import Truth, load_truth
from crl.errors import CrlError
from crl.graphs.names import split_latent_name


def _write(root: Path, latents: str, graph: str) -> Path:
    (root / "truth").mkdir(parents=True)
    (root / "truth" / "latents.csv").write_text(latents)
    (root / "truth" / "graph.csv").write_text(graph)
    return root


LATENTS = "subject_id,labs.z0,labs.z1,sleep.z0\n007,0.5,1.5,-1\nS2,2,3,4\n"
GRAPH = "source,target\nlabs.z0,sleep.z0\nlabs.z1,labs.z0\n"


def test_load_truth_reads_latents_edges_blocks_and_adjacency(tmp_path):
    truth = load_truth(_write(tmp_path, LATENTS, GRAPH))
    assert isinstance(truth, Truth)
    assert list(truth.latents.index) == ["007", "S2"]  # IDs stay strings, leading zeros kept
    assert truth.latents.loc["S2", "sleep.z0"] == 4.0
    assert truth.latent_names == ["labs.z0", "labs.z1", "sleep.z0"]
    assert truth.edges == [("labs.z0", "sleep.z0"), ("labs.z1", "labs.z0")]
    assert truth.blocks() == {"labs": ["labs.z0", "labs.z1"], "sleep": ["sleep.z0"]}
    expected = np.zeros((3, 3), dtype=bool)
    expected[0, 2] = expected[1, 0] = True
    assert np.array_equal(truth.adjacency(), expected)
    assert truth.cross_modal_edges() == [("labs.z0", "sleep.z0")]
    assert truth.nuisance is None


def test_an_empty_graph_is_allowed(tmp_path):
    truth = load_truth(_write(tmp_path, LATENTS, "source,target\n"))
    assert truth.edges == [] and not truth.adjacency().any()


def test_nuisance_is_read_when_present(tmp_path):
    _write(tmp_path, LATENTS, GRAPH)
    (tmp_path / "truth" / "nuisance.csv").write_text("subject_id,labs.eta0\n007,0.1\nS2,0.2\n")
    truth = load_truth(tmp_path)
    assert truth.nuisance.loc["007", "labs.eta0"] == pytest.approx(0.1)


def test_missing_truth_folder_says_how_to_get_one(tmp_path):
    with pytest.raises(CrlError, match="crl synth"):
        load_truth(tmp_path)


def test_missing_graph_file(tmp_path):
    _write(tmp_path, LATENTS, GRAPH)
    (tmp_path / "truth" / "graph.csv").unlink()
    with pytest.raises(CrlError, match="graph.csv is missing"):
        load_truth(tmp_path)


@pytest.mark.parametrize(
    ("latents", "graph", "message"),
    [
        ("id,labs.z0\n1,2\n", GRAPH, "subject_id"),
        ("subject_id,labs_z0\n1,2\n", "source,target\n", "<modality>.z<k>"),
        ("subject_id,labs.z0\n1,abc\n", "source,target\n", "non-numeric"),
        ("subject_id,labs.z0\n1,2\n1,3\n", "source,target\n", "more than once"),
        ("subject_id\n1\n", "source,target\n", "no latent columns"),
        (LATENTS, "from,to\nlabs.z0,sleep.z0\n", "source,target"),
        (LATENTS, "source,target\nlabs.z0,eyes.z3\n", "eyes.z3"),
        (LATENTS, "", "not a readable CSV"),
    ],
)
def test_malformed_truth_is_explained(tmp_path, latents, graph, message):
    with pytest.raises(CrlError, match=message.replace(".", r"\.").replace("<", ".").replace(">", ".")):
        load_truth(_write(tmp_path, latents, graph))


def test_split_latent_name():
    assert split_latent_name("fundus.left.z12") == ("fundus.left", 12)
    with pytest.raises(CrlError):
        split_latent_name("labs.x0")
