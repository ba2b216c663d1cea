"""Cohort previews, the colour palette and image conversion."""

import numpy as np
import pytest
from viz_fixtures import PAYLOAD, figure_text

from crl.viz.images import image_stack, to_rgb_uint8
from crl.viz.palette import OKABE_ITO, modality_colour, modality_colours, text_colour_on
from crl.viz.previews import image_grid, overlap_figure, timeseries_preview


def test_timeseries_preview_lines_per_subject_and_channel():
    values = np.random.default_rng(0).normal(size=(10, 3, 50))
    ids = [f"S{k}" for k in range(10)]
    fig = timeseries_preview(values, ["hr", "spo2", "snore"], ids, max_subjects=4)
    assert len(fig.data) == 4 * 3
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == ["S0", "S1", "S2", "S3"]  # one legend entry per subject, toggling all its channels
    assert len({t.legendgroup for t in fig.data}) == 4
    assert np.allclose(fig.data[0].y, values[0, 0]) and np.allclose(fig.data[1].y, values[0, 1])
    assert [a.text for a in fig.layout.annotations] == ["hr", "spo2", "snore"]
    assert "4 of 10 subjects" in fig.layout.title.text


def test_timeseries_preview_escapes_ids_and_channels():
    fig = timeseries_preview(np.zeros((1, 1, 5)), [PAYLOAD], [PAYLOAD])
    assert PAYLOAD not in figure_text(fig) and "&lt;script&gt;" in figure_text(fig)


def test_timeseries_preview_draws_time_in_the_given_units():
    hours = np.arange(5) / 6.0
    fig = timeseries_preview(np.zeros((2, 2, 5)), ["a", "b"], ["S0", "S1"], time=hours, time_title=PAYLOAD)
    assert np.allclose(fig.data[0].x, hours)
    assert fig.layout.xaxis2.title.text == "&lt;script&gt;alert(1)&lt;/script&gt;"  # escaped like any name
    plain = timeseries_preview(np.zeros((2, 1, 5)), ["a"], ["S0", "S1"])
    assert plain.layout.xaxis.title.text == "Time (samples)" and np.allclose(plain.data[0].x, np.arange(5))


def test_image_grid_caps_images_and_labels_them():
    images = np.zeros((30, 8, 8, 3), dtype=np.uint8)
    fig = image_grid(images, [f"S{k}" for k in range(30)], columns=5, max_images=10)
    assert len(fig.data) == 10 and all(t.type == "image" for t in fig.data)
    assert [a.text for a in fig.layout.annotations] == [f"S{k}" for k in range(10)]
    assert "10 of 30" in fig.layout.title.text
    assert PAYLOAD not in figure_text(image_grid(images[:1], [PAYLOAD])) and "&lt;script&gt;" in figure_text(
        image_grid(images[:1], [PAYLOAD])
    )


def test_overlap_bars_sorted_and_dots_mark_modalities():
    counts = {
        ("labs", "sleep", "eye"): 80,
        ("labs", "sleep"): 15,
        "labs": 30,
        "sleep+eye": 5,
    }
    fig = overlap_figure(counts)
    bars = fig.data[0]
    assert list(bars.y) == [80, 30, 15, 5]
    # Only the combination with every modality (what training uses) is highlighted.
    assert len(set(bars.marker.color)) == 2 and bars.marker.color[0] != bars.marker.color[1]
    assert "used for training" in bars.customdata[0] and "only" in bars.customdata[1]
    present = fig.data[3]
    assert len(present.x) == 3 + 1 + 2 + 2
    assert list(fig.layout.yaxis2.ticktext) == ["labs (125)", "sleep (100)", "eye (85)"]
    assert PAYLOAD not in figure_text(
        overlap_figure({(PAYLOAD, "labs"): 3})
    ) and "&lt;script&gt;" in figure_text(overlap_figure({(PAYLOAD, "labs"): 3}))


def test_overlap_respects_a_given_modality_order():
    fig = overlap_figure({("a", "b"): 2, ("b",): 1}, modalities=["b", "a"])
    assert list(fig.layout.yaxis2.ticktext) == ["b (3)", "a (2)"]


def test_palette_is_stable_by_order_and_distinct():
    colours = modality_colours(["sleep", "labs", "sleep", "eye"])
    assert list(colours) == ["sleep", "labs", "eye"]
    assert colours["sleep"] == OKABE_ITO[0] and colours["labs"] == OKABE_ITO[1]
    assert len({modality_colour(i) for i in range(14)}) == 14
    assert text_colour_on("#000000") == "#FFFFFF" and text_colour_on("#F0E442") == "#000000"


def test_images_are_converted_to_rgb_uint8():
    assert to_rgb_uint8(np.full((4, 5), 300.0)).tolist() == np.full((4, 5, 3), 255).tolist()
    assert to_rgb_uint8(np.zeros((3, 4, 5))).shape == (4, 5, 3)  # channels first
    assert to_rgb_uint8(np.zeros((4, 5, 4))).shape == (4, 5, 3)  # alpha dropped
    assert image_stack(np.zeros((2, 4, 5, 1))).shape == (2, 4, 5, 3)
    with pytest.raises(ValueError, match="channels"):
        to_rgb_uint8(np.zeros((5, 6, 7)))
