"""Cohort previews: a few subjects' time series and images, and who has which modalities (an UpSet-style chart)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crl.viz.images import image_stack, png_data_uri
from crl.viz.palette import FAINT_MARK, NEUTRAL_MARK, OKABE_ITO, unique_in_order
from crl.viz.style import apply_style, empty_figure, plain

_USED_COLOUR = "#0072B2"  # the combination that training uses (every modality present)
_OTHER_COLOUR = "#9AA5B1"


def _spacing(count: int, wanted: float) -> float:
    return 0.0 if count <= 1 else min(wanted, 0.8 / (count - 1))


def timeseries_preview(
    values: np.ndarray,
    channel_names: Sequence[str],
    subject_ids: Sequence[str],
    *,
    time: Sequence[float] | None = None,
    time_title: str = "Time",
    max_subjects: int = 6,
    max_channels: int = 8,
    title: str | None = None,
) -> go.Figure:
    """One panel per channel with a line per subject, for a first look at a time-series modality.

    values: `(n, C, T)`; the first `max_subjects` subjects and `max_channels` channels are drawn.
    time: `(T,)` time stamps for the x axis titled `time_title` (default: sample number).
    """
    a = np.asarray(values, dtype=float)
    if a.ndim != 3:
        raise ValueError(f"values must be (subjects, channels, time), got shape {a.shape}")
    n, n_channels, n_time = a.shape
    if n == 0 or n_channels == 0:
        return empty_figure("No time series to show.")
    ids = [str(s) for s in subject_ids][:n]
    names = (
        [str(c) for c in channel_names]
        if len(channel_names) == n_channels
        else [f"channel {k + 1}" for k in range(n_channels)]
    )
    shown_subjects = min(n, max_subjects)
    shown_channels = min(n_channels, max_channels)
    x = np.asarray(time, dtype=float) if time is not None and len(time) == n_time else np.arange(n_time)
    fig = make_subplots(
        rows=shown_channels,
        cols=1,
        shared_xaxes=True,
        subplot_titles=[plain(names[c]) for c in range(shown_channels)],
        vertical_spacing=_spacing(shown_channels, 0.07),
    )
    traces, rows = [], []
    for s in range(shown_subjects):
        colour = OKABE_ITO[s % len(OKABE_ITO)]
        label = plain(ids[s]) if s < len(ids) else f"subject {s + 1}"
        for c in range(shown_channels):
            traces.append(
                go.Scatter(
                    x=x,
                    y=a[s, c],
                    mode="lines",
                    name=label,
                    legendgroup=f"subject{s}",
                    showlegend=c == 0,
                    line={"color": colour, "width": 1.5},
                    hovertemplate="%{fullData.name}<br>time %{x:.4~g}: %{y:.4g}<extra></extra>",
                )
            )
            rows.append(c + 1)
    fig.add_traces(traces, rows=rows, cols=[1] * len(traces))
    fig.update_annotations(font_size=13)
    fig.update_xaxes(
        title_text=plain(time_title) if time is not None else "Time (samples)",
        title_font_size=12,
        row=shown_channels,
    )
    heading = plain(title) if title else f"Time series of {shown_subjects} of {n} subjects"
    if shown_channels < n_channels:
        heading += f" ({shown_channels} of {n_channels} channels)"
    fig.update_layout(legend={"title": {"text": "Subject"}})
    return apply_style(fig, title=heading, height=max(260, 150 * shown_channels + 90))


def image_grid(
    images: np.ndarray,
    subject_ids: Sequence[str],
    *,
    columns: int = 6,
    max_images: int = 18,
    title: str | None = None,
) -> go.Figure:
    """A grid of subjects' images with their IDs, for a first look at an image modality.

    images: `(n, H, W[, C])` (or `(n, C, H, W)`), values 0-255, 1 or 3 channels.
    """
    stack = image_stack(np.asarray(images)[:max_images])
    n_total = len(images)
    if len(stack) == 0:
        return empty_figure("No images to show.")
    ids = [str(s) for s in subject_ids]
    labels = [plain(ids[k]) if k < len(ids) else f"subject {k + 1}" for k in range(len(stack))]
    cols = max(1, min(columns, len(stack)))
    rows = -(-len(stack) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=labels,
        horizontal_spacing=_spacing(cols, 0.015),
        vertical_spacing=_spacing(rows, 0.06),
    )
    fig.add_traces(
        [
            go.Image(
                source=png_data_uri(image), name=labels[k], hovertemplate="%{fullData.name}<extra></extra>"
            )
            for k, image in enumerate(stack)
        ],
        rows=[k // cols + 1 for k in range(len(stack))],
        cols=[k % cols + 1 for k in range(len(stack))],
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=12)
    heading = plain(title) if title else f"Images of {len(stack)} of {n_total} subjects"
    panel = min(170, int(0.95 * 880 / cols))
    return apply_style(
        fig, title=heading, height=rows * (panel + 26) + 66, margin={"l": 10, "r": 10, "b": 10}, legend=False
    )


def _combination(key: object) -> tuple[str, ...]:
    """A modality combination from a tuple/set/list of names or a string like 'labs+sleep' or 'labs, sleep'."""
    if isinstance(key, str):
        parts = re.split(r"\s*[+,&|]\s*", key.strip())
    elif isinstance(key, Iterable):
        parts = [str(k) for k in key]
    else:
        parts = [str(key)]
    return tuple(p for p in parts if p)


def overlap_figure(
    counts: Mapping[object, int] | pd.Series,
    *,
    modalities: Sequence[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """How many subjects have each combination of modalities (bars), and which modalities that is (dots).

    counts: combination -> number of subjects, where a combination is a tuple/set of modality names or a
        string such as "labs+sleep". The combination with every modality (the subjects training can use) is
        drawn in blue, the rest in grey. `modalities` fixes the row order (default: first appearance).
    """
    items = counts.items() if isinstance(counts, (Mapping, pd.Series)) else counts
    merged: dict[frozenset[str], int] = {}
    order_seen: list[str] = []
    for key, value in items:
        combo = _combination(key)
        order_seen.extend(combo)
        merged[frozenset(combo)] = merged.get(frozenset(combo), 0) + int(value)
    merged = {k: v for k, v in merged.items() if v > 0 and k}
    rows = [str(m) for m in modalities] if modalities is not None else unique_in_order(order_seen)
    if not merged or not rows:
        return empty_figure("No subjects to count.")
    combos = sorted(
        merged, key=lambda c: (-merged[c], -len(c), sorted(rows.index(m) for m in c if m in rows))
    )
    everything = frozenset(rows)
    totals = {m: sum(v for c, v in merged.items() if m in c) for m in rows}
    x = list(range(len(combos)))
    names = [" + ".join(plain(m) for m in rows if m in c) for c in combos]
    hover = [
        f"{name}{' (every modality: used for training)' if c >= everything else ' only'}: {merged[c]} subjects"
        for name, c in zip(names, combos, strict=True)
    ]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38], vertical_spacing=0.04)
    fig.add_trace(
        go.Bar(
            x=x,
            y=[merged[c] for c in combos],
            marker={"color": [_USED_COLOUR if c >= everything else _OTHER_COLOUR for c in combos]},
            text=[str(merged[c]) for c in combos],
            textposition="outside",
            cliponaxis=False,
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    # Dot matrix: every cell faint, present modalities solid grey and joined by a line per combination.
    grid_x = [k for k in x for _ in rows]
    grid_y = [r for _ in x for r in range(len(rows))]
    fig.add_trace(
        go.Scatter(
            x=grid_x,
            y=grid_y,
            mode="markers",
            marker={"size": 13, "color": FAINT_MARK},
            hoverinfo="skip",
        ),
        row=2,
        col=1,
    )
    line_x: list[float | None] = []
    line_y: list[float | None] = []
    dot_x, dot_y, dot_text = [], [], []
    for k, c in enumerate(combos):
        present = [r for r, m in enumerate(rows) if m in c]
        if len(present) > 1:
            line_x += [k, k, None]
            line_y += [min(present), max(present), None]
        for r in present:
            dot_x.append(k)
            dot_y.append(r)
            dot_text.append(hover[k])
    fig.add_trace(
        go.Scatter(
            x=line_x, y=line_y, mode="lines", line={"color": NEUTRAL_MARK, "width": 3}, hoverinfo="skip"
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=dot_x,
            y=dot_y,
            mode="markers",
            marker={"size": 13, "color": NEUTRAL_MARK},
            customdata=dot_text,
            hovertemplate="%{customdata}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="Subjects", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(
        tickvals=list(range(len(rows))),
        ticktext=[f"{plain(m)} ({totals[m]})" for m in rows],
        autorange="reversed",
        showgrid=False,
        zeroline=False,
        row=2,
        col=1,
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, range=[-0.6, len(combos) - 0.4])
    longest = max(len(f"{m} ({totals[m]})") for m in rows)
    heading = plain(title) if title else "Which modalities each subject has"
    return apply_style(
        fig,
        title=heading,
        height=260 + 30 * len(rows),
        margin={"l": int(min(260, 30 + 7.5 * longest)), "b": 20},
        legend=False,
    )
