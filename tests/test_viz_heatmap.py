"""Adjacency and correlation heatmaps: orientation, threshold, block separators, matching, escaping."""

import numpy as np
from viz_fixtures import PAYLOAD, figure_text

from crl.viz.heatmap import adjacency_heatmap, correlation_heatmap
from crl.viz.palette import modality_colours


def _graph():
    names = ["sleep z0", "sleep z1", "labs z0", "fundus z0"]
    modalities = ["sleep", "sleep", "labs", "fundus"]
    w = np.zeros((4, 4))
    w[0, 2] = 0.8
    w[2, 3] = 0.05
    return names, w, modalities


def test_adjacency_rows_are_causes_and_hover_names_the_edge():
    names, w, modalities = _graph()
    fig = adjacency_heatmap(names, w, modalities)
    assert len(fig.data) == 1
    heat = fig.data[0]
    assert heat.z[0][2] == 0.8 and heat.z[2][0] == 0.0
    assert heat.text[0][2].startswith("sleep z0 → labs z0: 0.800")
    assert "sleep → labs" in heat.text[0][2]
    assert np.isnan(heat.z[1][1])  # no self-edges
    assert fig.layout.yaxis.title.text.startswith("Cause") and fig.layout.xaxis.title.text.startswith(
        "Effect"
    )
    assert list(fig.layout.xaxis.ticktext) == names


def test_adjacency_threshold_blanks_weak_cells_but_keeps_their_hover():
    names, w, modalities = _graph()
    fig = adjacency_heatmap(names, w, modalities, threshold=0.1)
    z = np.array(fig.data[0].z, dtype=float)
    assert np.isnan(z[2, 3]) and z[0, 2] == 0.8
    assert "below the threshold 0.1" in fig.data[0].text[2][3]
    assert "below" not in fig.data[0].text[0][2]


def test_adjacency_separates_modality_blocks():
    names, w, modalities = _graph()
    fig = adjacency_heatmap(names, w, modalities)
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    strips = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(lines) == 4  # two block boundaries, one vertical and one horizontal line each
    assert sorted({line.x0 for line in lines if line.x0 == line.x1}) == [1.5, 2.5]
    colours = modality_colours(modalities)
    assert [s.fillcolor for s in strips] == [colours["sleep"], colours["labs"], colours["fundus"]]
    assert [a.text for a in fig.layout.annotations] == ["sleep", "labs", "fundus"]


def test_adjacency_signed_weights_use_a_diverging_scale():
    names, w, modalities = _graph()
    w[3, 0] = -0.5
    fig = adjacency_heatmap(names, w, modalities)
    assert fig.data[0].zmid == 0.0 and fig.data[0].zmin == -fig.data[0].zmax


def test_adjacency_escapes_names():
    names, w, modalities = _graph()
    fig = adjacency_heatmap([PAYLOAD, *names[1:]], w, [PAYLOAD, PAYLOAD, "labs", "fundus"])
    text = figure_text(fig)
    assert PAYLOAD not in text and "&lt;script&gt;" in text


def test_correlation_outlines_the_matching_in_any_format():
    corr = np.array([[0.1, 0.9, 0.2], [0.8, 0.3, 0.1], [0.2, 0.1, 0.7]])
    names_true, names_est = ["a", "b", "c"], ["x", "y", "z"]
    expected = {(0, 1), (1, 0), (2, 2)}
    for matching in (
        {0: 1, 1: 0, 2: 2},
        [(0, 1), (1, 0), (2, 2)],
        (np.array([0, 1, 2]), np.array([1, 0, 2])),
        [1, 0, 2],
    ):
        fig = correlation_heatmap(names_true, names_est, corr, matching=matching)
        outlined = {(int(s.y0 + 0.5), int(s.x0 + 0.5)) for s in fig.layout.shapes}
        assert outlined == expected
        assert "MCC 0.80" in fig.layout.title.text
    fig = correlation_heatmap(names_true, names_est, -corr, matching={0: 1})
    assert fig.data[0].z[0][1] == 0.9  # absolute values
    hover = fig.data[0].customdata
    assert "matched pair" in hover[0][1] and "matched" not in hover[0][0]
    # Only the matched cell carries its number: numbers in every cell overlapped once cells narrowed.
    assert fig.data[0].text[0][1] == "0.90" and fig.data[0].text[0][0] == ""
    assert len(correlation_heatmap(names_true, names_est, corr).layout.shapes) == 0


def test_correlation_escapes_names():
    fig = correlation_heatmap([PAYLOAD], ["x"], np.array([[0.5]]), matching=[0])
    assert PAYLOAD not in figure_text(fig) and "&lt;script&gt;" in figure_text(fig)
