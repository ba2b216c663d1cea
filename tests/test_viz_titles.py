"""Side notes sit on a line of their own under a figure's title, and push the plot down to make room."""

from __future__ import annotations

import plotly.graph_objects as go

from crl.viz.style import apply_style


def test_a_note_goes_under_the_title_and_the_top_margin_grows_for_it():
    plain = apply_style(go.Figure(), title="A title")
    noted = apply_style(go.Figure(), title="A title", note="Dashed: the selected value")
    assert noted.layout.title.subtitle.text == "Dashed: the selected value"
    assert "subtitle" not in plain.layout.title.to_plotly_json() or not plain.layout.title.subtitle.text
    assert noted.layout.margin.t > plain.layout.margin.t
    fixed = apply_style(go.Figure(), title="A title", note="n", margin={"t": 90})
    assert fixed.layout.margin.t > 90  # a caller's own top margin still gets the note's line
