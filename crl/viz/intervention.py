"""Intervention figures: what an intervention on a latent changes in each modality's decoded observation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from crl.viz.images import image_stack, png_data_uri
from crl.viz.palette import DECREASE_COLOUR, INCREASE_COLOUR, NEUTRAL_MARK, modality_colours, rgba
from crl.viz.panels import (
    panel_names,
    ranked,
    scaled_change,
    small_titles,
    spacing,
    time_values,
    unknown_kind,
)
from crl.viz.style import apply_style, plain

_GREY = "#9AA5B1"


def _mean_observation(x: np.ndarray, kind: str) -> np.ndarray:
    """A single observation: a batch (one extra leading axis) is averaged over subjects."""
    a = np.asarray(x, dtype=float)
    if kind == "tabular" and a.ndim == 2:
        return a.mean(axis=0)
    if kind == "timeseries" and a.ndim == 3:
        return a.mean(axis=0)
    if kind == "image" and (
        a.ndim == 4 or (a.ndim == 3 and a.shape[-1] not in (1, 3, 4) and a.shape[0] not in (1, 3, 4))
    ):
        return a.mean(axis=0)
    return a


def intervention_figure(
    before: Mapping[str, np.ndarray],
    after: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    feature_names: Mapping[str, Sequence[str]],
    *,
    label: str | None = None,
    colours: Mapping[str, str] | None = None,
    feature_scale: Mapping[str, np.ndarray] | None = None,
    max_features: int = 15,
    max_channels: int = 4,
    titles: Mapping[str, str] | None = None,
    time_axes: Mapping[str, tuple[Sequence[float], str]] | None = None,
) -> dict[str, go.Figure]:
    """One figure per modality showing what an intervention changed in the decoded observation.

    before, after: modality -> one observation (tabular `(F,)`, timeseries `(C, T)`, image `(H, W[, C])`),
        or a batch of them with a leading subject axis, which is averaged.
    label: what was done, e.g. "setting Sleep z1 to 2.0" (escaped).
    titles: modality -> its name as shown; time_axes: modality -> (x values, axis title) of its time points.
    feature_scale: modality -> per-feature spread; tabular changes are then shown in those units
        (e.g. standard deviations), which makes features with different units comparable.
    Tabular: bars of the change per feature, largest first. Timeseries: before (grey) and after (colour)
    with the gap shaded. Images: before, after and their difference.
    """
    palette = dict(colours) if colours is not None else modality_colours(kinds)
    what = f"after {plain(label)}" if label else "after the intervention"
    out: dict[str, go.Figure] = {}
    for modality in after:
        if modality not in before:
            continue
        kind = kinds.get(modality)
        colour = palette.get(modality, NEUTRAL_MARK)
        shown = (titles or {}).get(modality, modality)
        b = _mean_observation(before[modality], kind)
        a = _mean_observation(after[modality], kind)
        if b.shape != a.shape:
            raise ValueError(f"before and after differ in shape for {modality!r}: {b.shape} vs {a.shape}")
        if kind == "tabular":
            scale = (feature_scale or {}).get(modality)
            out[modality] = _tabular_change(
                b.ravel(), a.ravel(), modality, feature_names, scale, what, max_features, shown
            )
        elif kind == "timeseries":
            out[modality] = _timeseries_change(
                b, a, modality, feature_names, colour, what, max_channels, shown, time_axes
            )
        elif kind == "image":
            out[modality] = _image_change(b, a, shown, what)
        else:
            raise unknown_kind(modality, kind)
    return out


def _tabular_change(
    b: np.ndarray,
    a: np.ndarray,
    modality: str,
    feature_names: Mapping[str, Sequence[str]],
    scale: np.ndarray | None,
    what: str,
    max_features: int,
    title_name: str,
) -> go.Figure:
    names = panel_names(feature_names, modality, len(b), "feature")
    raw = a - b
    shown = scaled_change(raw, scale)
    in_spread = scale is not None and np.size(scale) == raw.size
    chosen = ranked(np.abs(shown), max_features)
    hover = [
        f"<b>{plain(names[f])}</b><br>before: {b[f]:.4g}<br>after: {a[f]:.4g}<br>change: {raw[f]:+.4g}"
        + (f" ({shown[f]:+.2f} × usual spread)" if in_spread else "")
        for f in chosen
    ]
    fig = go.Figure(
        go.Bar(
            x=shown[chosen],
            y=list(range(len(chosen))),
            orientation="h",
            marker={"color": [INCREASE_COLOUR if shown[f] >= 0 else DECREASE_COLOUR for f in chosen]},
            text=[f"{shown[f]:+.2g}" for f in chosen],
            textposition="outside",
            cliponaxis=False,
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.update_yaxes(
        tickvals=list(range(len(chosen))),
        ticktext=[plain(names[f]) for f in chosen],
        autorange="reversed",
        showgrid=False,
    )
    fig.update_xaxes(
        title_text="Change (in units of usual spread)" if in_spread else "Change (after − before)",
        zeroline=True,
        zerolinecolor=NEUTRAL_MARK,
        zerolinewidth=1.5,
    )
    title = f"{plain(title_name)}: change {what}"
    note = f"The {len(chosen)} largest of {len(b)}" if len(chosen) < len(b) else None
    longest = max((len(names[f]) for f in chosen), default=8)
    return apply_style(
        fig,
        title=title,
        note=note,
        height=max(220, 30 * len(chosen) + 120),
        margin={"l": int(min(260, 30 + 7.5 * longest)), "r": 50},
        legend=False,
    )


def _timeseries_change(
    b: np.ndarray,
    a: np.ndarray,
    modality: str,
    feature_names: Mapping[str, Sequence[str]],
    colour: str,
    what: str,
    max_channels: int,
    shown: str,
    time_axes: Mapping[str, tuple[Sequence[float], str]] | None,
) -> go.Figure:
    if b.ndim == 1:
        b, a = b[None, :], a[None, :]
    names = panel_names(feature_names, modality, b.shape[0], "channel")
    chosen = ranked(np.nanmean(np.abs(a - b), axis=1), max_channels)
    fig = make_subplots(
        rows=len(chosen),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[plain(names[c]) for c in chosen],
        vertical_spacing=spacing(len(chosen), 0.08),
    )
    t, time_title = time_values(time_axes, modality, b.shape[1])
    for row, c in enumerate(chosen, start=1):
        fig.add_trace(
            go.Scatter(
                x=t,
                y=b[c],
                mode="lines",
                name="Before",
                legendgroup="before",
                showlegend=row == 1,
                line={"color": _GREY, "width": 1.8},
                hovertemplate="before, time %{x:.4~g}: %{y:.4g}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=t,
                y=a[c],
                mode="lines",
                name="After",
                legendgroup="after",
                showlegend=row == 1,
                fill="tonexty",  # shades the gap between before and after: the change itself
                fillcolor=rgba(colour, 0.22),
                line={"color": colour, "width": 2.2},
                hovertemplate="after, time %{x:.4~g}: %{y:.4g}<extra></extra>",
            ),
            row=row,
            col=1,
        )
    small_titles(fig)
    fig.update_xaxes(title_text=plain(time_title), title_font_size=12, row=len(chosen))
    fig.update_layout(
        legend={"orientation": "h", "x": 1.0, "xanchor": "right", "y": 1.02, "yanchor": "bottom"}
    )
    return apply_style(fig, title=f"{plain(shown)}: signal {what}", height=max(280, 190 * len(chosen) + 90))


def _image_change(b: np.ndarray, a: np.ndarray, modality: str, what: str) -> go.Figure:
    before_img, after_img = image_stack(np.stack([b, a]))
    difference = after_img.astype(float).mean(axis=-1) - before_img.astype(float).mean(axis=-1)
    limit = float(np.abs(difference).max()) or 1.0
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=["Before", "After", "Difference (after − before)"],
        horizontal_spacing=0.04,
    )
    fig.add_trace(go.Image(source=png_data_uri(before_img), hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Image(source=png_data_uri(after_img), hoverinfo="skip"), row=1, col=2)
    fig.add_trace(
        go.Heatmap(
            z=difference,
            colorscale="RdBu",
            zmid=0.0,
            zmin=-limit,
            zmax=limit,
            colorbar={"title": {"text": "Brightness<br>change"}, "thickness": 12, "len": 0.8},
            hovertemplate="row %{y}, column %{x}: %{z:+.1f}<extra></extra>",
        ),
        row=1,
        col=3,
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_yaxes(autorange="reversed", scaleanchor="x3", row=1, col=3)
    small_titles(fig)
    return apply_style(
        fig, title=f"{plain(modality)}: image {what}", height=340, margin={"l": 10, "b": 10}, legend=False
    )
