"""Traversal small multiples and intervention figures for each modality kind."""

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image
from viz_fixtures import PAYLOAD, figure_text

from crl.viz.intervention import intervention_figure
from crl.viz.palette import DECREASE_COLOUR, INCREASE_COLOUR
from crl.viz.traversal import traversal_figure

VALUES = np.linspace(-2.0, 2.0, 5)
KINDS = {"labs": "tabular", "sleep": "timeseries", "eye": "image"}


def _decoded():
    # labs: feature k changes by k per unit of the latent, so the largest changes are the last features.
    labs = np.stack([VALUES * k + 10 for k in range(6)], axis=1)
    t = np.arange(20)
    sleep = np.stack([np.stack([np.sin(t / 3 + v), np.zeros(20) + 0.01 * v], 0) for v in VALUES])
    eye = np.zeros((5, 8, 8))
    for s in range(5):
        eye[s, :, s] = 255
    return {"labs": labs, "sleep": sleep, "eye": eye}


def _decode_png(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_one_figure_per_modality_in_order():
    figs = traversal_figure(VALUES, _decoded(), KINDS, {})
    assert list(figs) == ["labs", "sleep", "eye"]


def test_tabular_panels_show_the_features_that_change_most():
    names = {"labs": [f"lab {k}" for k in range(6)]}
    fig = traversal_figure(VALUES, _decoded(), KINDS, names, max_features=3)["labs"]
    assert [t.name for t in fig.data] == ["lab 5", "lab 4", "lab 3"]
    assert np.allclose(fig.data[0].y, VALUES * 5 + 10) and np.allclose(fig.data[0].x, VALUES)
    assert fig.layout.title.subtitle.text == "Decoded features; the 3 of 6 that change most"  # under it
    assert "latent value" in fig.data[0].hovertemplate
    # A feature scale changes which features count as changing most.
    scaled = traversal_figure(
        VALUES,
        _decoded(),
        KINDS,
        names,
        max_features=1,
        feature_scale={"labs": np.array([1, 1, 1, 1, 1, 100.0])},
    )["labs"]
    assert [t.name for t in scaled.data] == ["lab 4"]


def test_tabular_highlight_marks_the_selected_step():
    fig = traversal_figure(VALUES, _decoded(), KINDS, {}, highlight=2)["labs"]
    sizes = list(fig.data[0].marker.size)
    assert sizes[2] > sizes[0] and sizes.count(sizes[2]) == 1


def test_timeseries_has_a_curve_per_step_and_channel_and_a_colour_bar():
    names = {"sleep": ["Heart rate", "Snoring"]}
    fig = traversal_figure(VALUES, _decoded(), KINDS, names, highlight=4)["sleep"]
    curves = [t for t in fig.data if t.mode == "lines"]
    assert len(curves) == 2 * 5
    assert sum(1 for t in fig.data if t.marker.showscale) == 1
    # Channels ordered by how much they change; the highlighted step is drawn last in its panel, dark and dashed.
    assert [a.text for a in fig.layout.annotations] == ["Heart rate", "Snoring"]
    assert curves[4].line.dash == "dash" != curves[0].line.dash and np.allclose(
        curves[4].y, _decoded()["sleep"][4, 0]
    )
    assert "latent value 2.00" in curves[4].hovertemplate


def test_images_one_panel_per_step_as_png():
    fig = traversal_figure(VALUES, _decoded(), KINDS, {}, highlight=1)["eye"]
    images = [t for t in fig.data if t.type == "image"]
    assert len(images) == 5
    first = _decode_png(images[0].source)
    assert first.shape == (8, 8, 3) and first[:, 0].min() == 255 and first[:, 1].max() == 0
    assert [a.text for a in fig.layout.annotations] == [f"{v:.2f}" for v in VALUES]
    assert len(fig.layout.shapes) == 1  # the highlighted step's frame


@pytest.mark.parametrize("shape", [(5, 6, 7, 3), (5, 3, 6, 7), (5, 6, 7, 1)])
def test_image_layouts_are_accepted(shape):
    data = np.full(shape, 128.0)
    fig = traversal_figure(VALUES, {"eye": data}, {"eye": "image"}, {})["eye"]
    assert _decode_png(fig.data[0].source).shape == (6, 7, 3)


def test_mismatched_steps_and_unknown_kinds_are_errors():
    with pytest.raises(ValueError, match="steps"):
        traversal_figure(VALUES[:3], _decoded(), KINDS, {})
    with pytest.raises(ValueError, match="kind"):
        traversal_figure(VALUES, {"x": np.zeros((5, 2))}, {"x": "audio"}, {})


def test_names_are_escaped():
    figs = traversal_figure(
        VALUES,
        {PAYLOAD: _decoded()["labs"]},
        {PAYLOAD: "tabular"},
        {PAYLOAD: [PAYLOAD] * 6},
        latent_name=PAYLOAD,
    )
    changed = intervention_figure(
        {PAYLOAD: np.zeros(2)},
        {PAYLOAD: np.ones(2)},
        {PAYLOAD: "tabular"},
        {PAYLOAD: [PAYLOAD] * 2},
        label=PAYLOAD,
    )
    assert PAYLOAD not in figure_text(changed[PAYLOAD]) and "&lt;script&gt;" in figure_text(changed[PAYLOAD])
    assert PAYLOAD not in figure_text(figs[PAYLOAD]) and "&lt;script&gt;" in figure_text(figs[PAYLOAD])


def test_intervention_tabular_bars_sorted_by_change_and_coloured_by_sign():
    before = {"labs": np.array([1.0, 5.0, 2.0])}
    after = {"labs": np.array([1.5, 2.0, 2.1])}
    fig = intervention_figure(before, after, KINDS, {"labs": ["a", "b", "c"]}, label="setting sleep z0 to 2")[
        "labs"
    ]
    bars = fig.data[0]
    assert list(fig.layout.yaxis.ticktext) == ["b", "a", "c"]
    assert np.allclose(bars.x, [-3.0, 0.5, 0.1])
    assert list(bars.marker.color) == [DECREASE_COLOUR, INCREASE_COLOUR, INCREASE_COLOUR]
    assert "before: 5" in bars.customdata[0] and "after: 2" in bars.customdata[0]
    assert "setting sleep z0 to 2" in fig.layout.title.text


def test_intervention_averages_a_batch_and_uses_spread_units():
    before = {"labs": np.array([[0.0, 0.0], [2.0, 0.0]])}
    after = {"labs": np.array([[2.0, 1.0], [4.0, 1.0]])}
    fig = intervention_figure(before, after, KINDS, {}, feature_scale={"labs": np.array([4.0, 0.5])})["labs"]
    assert np.allclose(fig.data[0].x, [2.0, 0.5])  # feature 2: +1 / 0.5; feature 1: +2 / 4
    assert "spread" in fig.layout.xaxis.title.text


def test_intervention_timeseries_shades_the_gap_and_images_show_the_difference():
    d = _decoded()
    figs = intervention_figure(
        {"sleep": d["sleep"][0], "eye": d["eye"][0]}, {"sleep": d["sleep"][4], "eye": d["eye"][4]}, KINDS, {}
    )
    sleep = figs["sleep"]
    assert len(sleep.data) == 4 and [t.fill for t in sleep.data[1::2]] == ["tonexty", "tonexty"]
    assert [t.name for t in sleep.data if t.showlegend] == ["Before", "After"]
    eye = figs["eye"]
    assert [t.type for t in eye.data] == ["image", "image", "heatmap"]
    difference = np.asarray(eye.data[2].z)
    assert difference[0, 4] == 255 and difference[0, 0] == -255 and difference[0, 2] == 0


def _title(fig) -> str:
    """A figure's title without the markup that keeps it normal weight under Streamlit's chart theme."""
    return re.sub(r"<[^>]+>", "", fig.layout.title.text)


def test_titles_and_time_axes_go_by_the_cohorts_labels_and_are_escaped():
    """Figures name a modality as cohort.toml labels it and draw time in its units; a hostile label is text."""
    d = _decoded()
    hours = np.arange(20) / 6.0  # 20 points 10 minutes apart
    shown = {
        "titles": {"sleep": "Home sleep test", "eye": PAYLOAD},
        "time_axes": {"sleep": (hours, "Time (h)")},
    }
    figs = traversal_figure(VALUES, d, KINDS, {}, latent_name="apnea", **shown)
    assert _title(figs["sleep"]) == "Home sleep test as apnea changes"
    assert figs["sleep"].layout.xaxis2.title.text == "Time (h)"
    assert np.allclose(figs["sleep"].data[0].x, hours)
    assert PAYLOAD not in figure_text(figs["eye"]) and "&lt;script&gt;" in figs["eye"].layout.title.text
    assert _title(figs["labs"]).startswith("labs as ")  # no title given: the modality's own name
    changed = intervention_figure({"sleep": d["sleep"][0]}, {"sleep": d["sleep"][4]}, KINDS, {}, **shown)[
        "sleep"
    ]
    assert _title(changed).startswith("Home sleep test: signal after")
    assert changed.layout.xaxis2.title.text == "Time (h)" and np.allclose(changed.data[0].x, hours)
    # An axis of another length than the series is not used: the points are numbered instead.
    odd = traversal_figure(VALUES, d, KINDS, {}, time_axes={"sleep": (hours[:5], "Time (h)")})["sleep"]
    assert odd.layout.xaxis2.title.text == "Time (samples)" and np.allclose(odd.data[0].x, np.arange(20))
