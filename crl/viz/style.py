"""The house look for every plotly figure (readable fonts, quiet grid) and safe text for labels.

The dashboard shows figures with Streamlit's chart theme (`st.plotly_chart`'s default), which replaces the
template's background and grid colours with the app's light or dark ones, so a figure follows the viewer's
theme. Fonts and sizes are set on the figure itself (`apply_style`), where the chart theme leaves them alone.
Outside the dashboard the template's white look shows.
"""

from __future__ import annotations

import functools
import html

import plotly.graph_objects as go
import plotly.io as pio

from crl.viz.palette import FONT_FAMILY, OKABE_ITO, TEXT_COLOUR

FONT_SIZE = 14
TITLE_SIZE = 17
GRID_COLOUR = "#EEF0F3"
AXIS_COLOUR = "#9AA5B1"
# Text colour of axes, notes and colour bars. The chart theme's own is a mid grey on white (#808495, contrast
# 3.7: weak on a projector); this is Streamlit's placeholder for its strongest text grey, which its chart theme
# swaps for near-black on a light page and near-white on a dark one (GRAY_90 in
# streamlit/elements/lib/streamlit_plotly_theme.py; tests/test_viz_theme.py checks it is still there). Outside
# the dashboard it is drawn as it is: near-black.
THEMED_TEXT = "#000037"


def plain(text: object) -> str:
    """User text made safe for plotly labels, titles and hover text.

    Plotly renders a subset of HTML in text; escaping &, < and > shows names such as "<b>" or "a<b" literally.
    Quotes are left alone because plotly does not decode &quot;.
    """
    return html.escape(str(text), quote=False)


@functools.lru_cache(maxsize=1)
def house_template() -> go.layout.Template:
    """plotly_white with our fonts, quiet axes and the Okabe-Ito colour cycle, built once per process."""
    template = go.layout.Template(pio.templates["plotly_white"])
    axis = {
        "gridcolor": GRID_COLOUR,
        "linecolor": AXIS_COLOUR,
        "zerolinecolor": GRID_COLOUR,
        "title": {"standoff": 8},
    }
    template.layout.update(
        font={"family": FONT_FAMILY, "size": FONT_SIZE, "color": TEXT_COLOUR},
        colorway=list(OKABE_ITO),
        paper_bgcolor="white",
        plot_bgcolor="white",
        hoverlabel={
            "bgcolor": "white",
            "font": {"family": FONT_FAMILY, "size": 13},
            "bordercolor": AXIS_COLOUR,
        },
        # Transparent: a white box behind the legend glared on a dark page with light text in it.
        legend={"bgcolor": "rgba(0,0,0,0)", "borderwidth": 0, "font": {"size": 13}},
        xaxis=axis,
        yaxis=axis,
    )
    return template


def _set_template(fig: go.Figure) -> None:
    """Attach the house template without re-validating it (it was validated once when built).

    Validating a template on every figure costs ~13 ms, most of a small figure's build time; plotly itself
    skips it the same way when it applies its default template.
    """
    layout = fig.layout
    try:
        layout._validate = False
        layout.template = house_template()
    except AttributeError:  # a plotly without the private switch: pay for validation
        fig.update_layout(template=house_template())
    finally:
        layout._validate = True


def apply_style(
    fig: go.Figure,
    *,
    title: str | None = None,
    height: int | None = None,
    margin: dict[str, int] | None = None,
    legend: bool | None = None,
    note: str | None = None,
) -> go.Figure:
    """Give `fig` the house layout in place and return it; `title` and `note` (a smaller line under the title:
    what a mark means, what was left out) must already be escaped."""
    _set_template(fig)
    # A note under the title pushes the plot (and its panel titles) down by its line. Titles stay one line:
    # plotly misplaces multi-line titles (their first line is anchored), so they are kept short instead.
    extra = 36 if title and note else 0
    m = {"l": 60, "r": 20, "t": (56 if title else 24) + extra, "b": 50}
    m.update(margin or {})
    if margin and "t" in margin:
        m["t"] = margin["t"] + extra
    update: dict = {
        "margin": m,
        "font": {"family": FONT_FAMILY, "size": FONT_SIZE, "color": THEMED_TEXT},
        "legend": {"font": {"size": 13, "color": THEMED_TEXT}},
        "hoverlabel": {"font": {"family": FONT_FAMILY, "size": 13}},
    }
    if title:
        update["title"] = {
            # Streamlit's chart theme wraps a title in <b>; bold titles ran off the right at 150 % zoom, and
            # the span keeps them at the weight their lengths were fitted to (a no-op outside the dashboard).
            "text": f'<span style="font-weight:normal">{title}</span>',
            # From the figure's left edge, not the plot's: behind a wide label margin (a heatmap's names) a
            # title anchored on the plot ran off the right side in a narrow window.
            "x": 0.01,
            "xanchor": "left",
            "xref": "container",
            # Hung from the top, so a note under it stays clear of the panel titles above the plot.
            "y": 1,
            "yanchor": "top",
            "yref": "container",
            "pad": {"t": 14},
            "font": {"family": FONT_FAMILY, "size": TITLE_SIZE},
        }
        if note:
            update["title"]["subtitle"] = {"text": note, "font": {"family": FONT_FAMILY, "size": 13}}
    if height is not None:
        update["height"] = int(height)
    if legend is not None:
        update["showlegend"] = legend
    fig.update_layout(**update)
    _axis_sizes(fig)
    return fig


def _axis_sizes(fig: go.Figure) -> None:
    """Tick labels and axis titles at the house size and text colour on every axis that has none of its own:
    Streamlit's chart theme would shrink them to 12 px (too small on a projector), grey them and push y titles
    32 px away."""
    for axis in (*fig.select_xaxes(), *fig.select_yaxes()):
        if axis.tickfont.size is None:
            axis.tickfont.size = FONT_SIZE
        if axis.tickfont.color is None:
            axis.tickfont.color = THEMED_TEXT
        if axis.title.font.size is None:
            axis.title.font.size = FONT_SIZE
        if axis.title.font.color is None:
            axis.title.font.color = THEMED_TEXT
        if axis.title.standoff is None:
            axis.title.standoff = 8


def empty_figure(message: str, *, height: int = 240) -> go.Figure:
    """A blank figure that says why there is nothing to show (better than an error or an empty frame)."""
    fig = go.Figure()
    fig.add_annotation(
        text=plain(message), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 15}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return apply_style(fig, height=height)
