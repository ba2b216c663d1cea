"""Latent traversal figures: what the decoders produce as one latent moves (small multiples per modality)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from crl.viz.images import image_stack, png_data_uri
from crl.viz.palette import NEUTRAL_MARK, SEQUENTIAL_SCALE, darker, modality_colours
from crl.viz.panels import (
    grid,
    panel_names,
    ranked,
    scaled_change,
    small_titles,
    spacing,
    time_values,
    unknown_kind,
)
from crl.viz.style import apply_style, plain


def traversal_figure(
    values: np.ndarray,
    decoded: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    feature_names: Mapping[str, Sequence[str]],
    highlight: int | None = None,
    *,
    latent_name: str | None = None,
    colours: Mapping[str, str] | None = None,
    feature_scale: Mapping[str, np.ndarray] | None = None,
    max_features: int = 12,
    max_channels: int = 4,
    titles: Mapping[str, str] | None = None,
    time_axes: Mapping[str, tuple[Sequence[float], str]] | None = None,
) -> dict[str, go.Figure]:
    """One figure per modality showing the decoded observation at each value of a latent traversal.

    values: `(n_steps,)` the latent's values along the traversal.
    decoded: modality -> `(n_steps, *observation_shape)` in original units: tabular `(n_steps, F)`,
        timeseries `(n_steps, C, T)`, image `(n_steps, H, W[, C])` or `(n_steps, C, H, W)` with values 0-255.
    kinds: modality -> "tabular" | "timeseries" | "image"; its order fixes modality colours.
    feature_names: modality -> feature (tabular) or channel (timeseries) names, as shown.
    titles: modality -> its name as shown (default the modality's own name).
    time_axes: modality -> (x values, axis title) of its time points (default sample numbers).
    highlight: index of the step to emphasise (e.g. the slider's current value).
    feature_scale: modality -> per-feature spread (e.g. the cohort's standard deviation), used to pick the
        features that change most relative to their usual variation; without it raw ranges are compared.
    Tabular: one small panel per feature (the `max_features` that change most). Timeseries: one panel per
    channel (the `max_channels` that change most), a curve per step coloured by the latent value. Images: a
    row of decoded images, one per step.
    """
    v = np.asarray(values, dtype=float).ravel()
    palette = dict(colours) if colours is not None else modality_colours(kinds)
    latent = plain(latent_name) if latent_name else "the latent"
    out: dict[str, go.Figure] = {}
    for modality, array in decoded.items():
        a = np.asarray(array)
        if a.shape[0] != len(v):
            raise ValueError(
                f"decoded[{modality!r}] has {a.shape[0]} steps but there are {len(v)} latent values"
            )
        kind = kinds.get(modality)
        colour = palette.get(modality, NEUTRAL_MARK)
        scale = (feature_scale or {}).get(modality)
        shown = (titles or {}).get(modality, modality)
        if kind == "tabular":
            out[modality] = _tabular_traversal(
                v,
                a.reshape(len(v), -1),
                modality,
                feature_names,
                colour,
                highlight,
                latent,
                scale,
                max_features,
                shown,
            )
        elif kind == "timeseries":
            out[modality] = _timeseries_traversal(
                v, a, modality, feature_names, highlight, latent, max_channels, shown, time_axes
            )
        elif kind == "image":
            out[modality] = _image_traversal(v, a, shown, colour, highlight, latent)
        else:
            raise unknown_kind(modality, kind)
    return out


def _tabular_traversal(
    v: np.ndarray,
    a: np.ndarray,
    modality: str,
    feature_names: Mapping[str, Sequence[str]],
    colour: str,
    highlight: int | None,
    latent: str,
    scale: np.ndarray | None,
    max_features: int,
    shown: str,
) -> go.Figure:
    names = panel_names(feature_names, modality, a.shape[1], "feature")
    change = (
        scaled_change(np.nanmax(a, axis=0) - np.nanmin(a, axis=0), scale) if len(a) else np.zeros(a.shape[1])
    )
    chosen = ranked(change, max_features)
    rows, cols = grid(len(chosen), 4)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[plain(names[f]) for f in chosen],
        vertical_spacing=spacing(rows, 0.16),
        horizontal_spacing=spacing(cols, 0.07),
    )
    sizes = np.full(len(v), 6.0)
    marker_colours = [colour] * len(v)
    if highlight is not None and 0 <= highlight < len(v):
        sizes[highlight] = 12.0
        marker_colours[highlight] = darker(colour, 0.55)
    fig.add_traces(
        [
            go.Scatter(
                x=v,
                y=a[:, f],
                mode="lines+markers",
                name=plain(names[f]),
                line={"color": colour, "width": 2},
                marker={"size": sizes, "color": marker_colours},
                hovertemplate="%{fullData.name}<br>latent value %{x:.2f}: %{y:.4g}<extra></extra>",
                showlegend=False,
            )
            for f in chosen
        ],
        rows=[k // cols + 1 for k in range(len(chosen))],
        cols=[k % cols + 1 for k in range(len(chosen))],
    )
    small_titles(fig)
    fig.update_xaxes(title_text="Latent value", title_font_size=12, row=rows)
    title = f"{plain(shown)} as {latent} changes"
    note = "Decoded features" + (
        f"; the {len(chosen)} of {a.shape[1]} that change most" if len(chosen) < a.shape[1] else ""
    )
    return apply_style(fig, title=title, note=note, height=max(280, 175 * rows + 90), legend=False)


def _timeseries_traversal(
    v: np.ndarray,
    a: np.ndarray,
    modality: str,
    feature_names: Mapping[str, Sequence[str]],
    highlight: int | None,
    latent: str,
    max_channels: int,
    shown: str,
    time_axes: Mapping[str, tuple[Sequence[float], str]] | None,
) -> go.Figure:
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3:
        raise ValueError(f"decoded time series must be (n_steps, channels, time), got shape {a.shape}")
    n_steps, n_channels, n_time = a.shape
    names = panel_names(feature_names, modality, n_channels, "channel")
    change = (
        np.nanmean(np.abs(a - np.nanmean(a, axis=0, keepdims=True)), axis=(0, 2)) if n_steps else np.zeros(0)
    )
    chosen = ranked(change, max_channels)
    fig = make_subplots(
        rows=len(chosen),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[plain(names[c]) for c in chosen],
        vertical_spacing=spacing(len(chosen), 0.08),
    )
    span = float(v.max() - v.min()) if len(v) else 0.0
    fractions = (v - v.min()) / span if span > 0 else np.full(len(v), 0.5)
    step_colours = sample_colorscale(SEQUENTIAL_SCALE, list(fractions)) if len(v) else []
    t, time_title = time_values(time_axes, modality, n_time)
    order = [s for s in range(n_steps) if s != highlight] + (
        [highlight] if highlight in range(n_steps) else []
    )
    traces, rows = [], []
    for row, c in enumerate(chosen, start=1):
        for s in order:
            emphasised = s == highlight
            traces.append(
                go.Scatter(
                    x=t,
                    y=a[s, c],
                    mode="lines",
                    # The selected value as a thin dashed line on top: it marks without hiding the others.
                    line={
                        "color": NEUTRAL_MARK if emphasised else step_colours[s],
                        "width": 1.4 if emphasised else 1.6,
                        "dash": "dash" if emphasised else "solid",
                    },
                    hovertemplate=f"latent value {v[s]:.2f}<br>time %{{x:.4~g}}: %{{y:.4g}}<extra></extra>",
                    showlegend=False,
                )
            )
            rows.append(row)
    if traces:
        fig.add_traces(traces, rows=rows, cols=[1] * len(traces))
    if len(v) and len(chosen):
        # An invisible point that carries the colour bar explaining the curve colours.
        fig.add_trace(
            go.Scatter(
                x=[t[0]],
                y=[float(a[0, chosen[0], 0])],
                mode="markers",
                marker={
                    "size": 0.1,
                    "opacity": 0,
                    "color": [float(v.min())],
                    "cmin": float(v.min()),
                    "cmax": float(v.max()) if span > 0 else float(v.min()) + 1.0,
                    "colorscale": SEQUENTIAL_SCALE,
                    "showscale": True,
                    "colorbar": {"title": {"text": "Latent<br>value"}, "thickness": 12, "len": 0.7},
                },
                hoverinfo="skip",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    small_titles(fig)
    fig.update_xaxes(title_text=plain(time_title), title_font_size=12, row=len(chosen))
    # Short titles (plotly never wraps one: a long title ran off the figure at 150 % zoom); the rest in the note.
    title = f"{plain(shown)} as {latent} changes"
    notes = ["Decoded signal"]
    if highlight is not None and 0 <= highlight < n_steps:
        notes.append("dashed: the selected value")
    if len(chosen) < n_channels:
        notes.append(f"the {len(chosen)} of {n_channels} channels that change most")
    note = "; ".join(notes)
    return apply_style(fig, title=title, note=note, height=max(280, 190 * len(chosen) + 90), legend=False)


def _image_traversal(
    v: np.ndarray, a: np.ndarray, modality: str, colour: str, highlight: int | None, latent: str
) -> go.Figure:
    images = image_stack(a)
    rows, cols = grid(len(images), 8)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{x:.2f}" for x in v],
        horizontal_spacing=spacing(cols, 0.012),
        vertical_spacing=spacing(rows, 0.08),
    )
    fig.add_traces(
        [
            go.Image(source=png_data_uri(image), hovertemplate=f"latent value {v[k]:.2f}<extra></extra>")
            for k, image in enumerate(images)
        ],
        rows=[k // cols + 1 for k in range(len(images))],
        cols=[k % cols + 1 for k in range(len(images))],
    )
    for k in range(len(images)):
        if k == highlight:
            fig.add_shape(
                type="rect",
                xref="x domain",
                yref="y domain",
                x0=-0.02,
                x1=1.02,
                y0=-0.02,
                y1=1.02,
                line={"color": darker(colour, 0.8), "width": 4},
                row=k // cols + 1,
                col=k % cols + 1,
            )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    small_titles(fig, 12)
    # Panels come out about as tall as they are wide in a ~900 px wide container.
    panel = min(170, int(0.95 * 880 / cols))
    return apply_style(
        fig,
        title=f"{plain(modality)} as {latent} changes",
        note="Decoded image at each value",
        height=rows * (panel + 26) + 96,
        margin={"l": 10, "r": 10, "b": 10},
        legend=False,
    )
