"""Matrix views: the latent adjacency (cause rows, effect columns) and the true-vs-learned correlation (MCC)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from crl.viz.palette import (
    DECREASE_COLOUR,
    INCREASE_COLOUR,
    NEUTRAL_MARK,
    diverging_fade_scale,
    fade_scale,
    modality_colours,
)
from crl.viz.style import apply_style, plain

_CELL_PX = 28  # target cell size, so small matrices stay compact and large ones stay legible
_SEPARATOR = {"color": NEUTRAL_MARK, "width": 1.5}  # reads on blank cells, light or dark


def _figure_size(n_rows: int, label_px: int, bottom_px: int, top_px: int = 90) -> tuple[int, int]:
    """(height, left margin) for a matrix of this size: cells about `_CELL_PX` tall (the plot area within
    150-700 px), plus the title above and the column labels below, so long labels never squash the cells."""
    cells = int(min(700, max(150, n_rows * _CELL_PX)))
    return cells + top_px + bottom_px, label_px


def _bottom_margin(labels: Sequence[str], rotated: bool) -> int:
    """Room under the plot for the column labels: a label at -45 degrees drops about 5 px per character."""
    longest = max((len(s) for s in labels), default=4)
    return int(min(280, 50 + (5.2 if rotated else 0.0) * longest))


def _label_margin(labels: Sequence[str]) -> int:
    longest = max((len(s) for s in labels), default=4)
    return int(min(260, 24 + 7.5 * longest))


def _block_bounds(modalities: Sequence[str]) -> list[tuple[str, int, int]]:
    """Runs of equal modality in order: (modality, first index, last index)."""
    runs: list[tuple[str, int, int]] = []
    for i, m in enumerate(modalities):
        if runs and runs[-1][0] == m:
            runs[-1] = (m, runs[-1][1], i)
        else:
            runs.append((m, i, i))
    return runs


def adjacency_heatmap(
    names: Sequence[str],
    weights: np.ndarray,
    modality_of: Sequence[str] | Mapping[str, str],
    threshold: float | None = None,
    measure: str = "strength",
) -> go.Figure:
    """The learned edge strengths as a matrix: rows are causes (source), columns are effects (target).

    weights: `(d, d)`, weights[i, j] = strength of i -> j. Cells below `threshold` (by absolute value) are
    left blank but keep their hover text, so the same figure answers "what was cut". Lines separate the
    modality blocks and a coloured strip names each block. measure: what the weights are, lower case, as the
    title and colour bar name them (e.g. "effect size").
    """
    names = [str(n) for n in names]
    d = len(names)
    w = np.asarray(weights, dtype=float)
    if w.shape != (d, d):
        raise ValueError(f"weights must have shape ({d}, {d}) to match the {d} names, got {w.shape}")
    if isinstance(modality_of, Mapping):
        modalities = [str(modality_of[n]) for n in names]
    else:
        modalities = [str(m) for m in modality_of]
        if len(modalities) != d:
            raise ValueError(f"modality_of has {len(modalities)} entries but there are {d} names")
    colours = modality_colours(modalities)
    shown = w.copy()
    diagonal = np.eye(d, dtype=bool)
    shown[diagonal] = np.nan
    below = np.zeros_like(diagonal)
    if threshold is not None:
        below = (np.abs(np.nan_to_num(w)) < threshold) & ~diagonal
        shown[below] = np.nan

    labels = [plain(n) for n in names]
    text = np.empty((d, d), dtype=object)
    for i in range(d):
        for j in range(d):
            if i == j:
                text[i, j] = f"{labels[i]}: no edge to itself"
                continue
            line = f"{labels[i]} → {labels[j]}: {w[i, j]:.3f}"
            if below[i, j]:
                line += f"<br><i>below the threshold {threshold:g}: not shown in the graph</i>"
            if modalities[i] != modalities[j]:
                line += f"<br>{plain(modalities[i])} → {plain(modalities[j])}"
            text[i, j] = line

    finite = np.abs(w[~diagonal & np.isfinite(w)]) if d > 1 else np.zeros(0)
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    signed = bool(np.nanmin(np.where(diagonal, 0.0, w)) < 0) if d else False
    # See-through scales (blank cells show the page): strong links stand out on a light and a dark page alike.
    # Signed: increases blue, decreases vermillion, as in the intervention bars.
    colour_args = (
        {
            "colorscale": diverging_fade_scale(DECREASE_COLOUR, INCREASE_COLOUR),
            "zmid": 0.0,
            "zmin": -top,
            "zmax": top,
        }
        if signed
        else {"colorscale": fade_scale(INCREASE_COLOUR), "zmin": 0.0, "zmax": top}
    )
    fig = go.Figure(
        go.Heatmap(
            z=shown,
            x=list(range(d)),
            y=list(range(d)),
            text=text,
            hovertemplate="%{text}<extra></extra>",
            hoverongaps=True,
            xgap=1,
            ygap=1,
            colorbar={
                "title": {"text": measure[:1].upper() + measure[1:], "side": "right"},
                "thickness": 14,
                "len": 0.8,
            },
            **colour_args,
        )
    )
    # Shapes and annotations go in as one list each: add_shape re-validates every earlier shape each time.
    shapes: list[dict] = []
    annotations: list[dict] = []
    for modality, first, last in _block_bounds(modalities):
        if first > 0:
            shapes.append(
                dict(type="line", x0=first - 0.5, x1=first - 0.5, y0=-0.5, y1=d - 0.5, line=_SEPARATOR)
            )
            shapes.append(
                dict(type="line", y0=first - 0.5, y1=first - 0.5, x0=-0.5, x1=d - 0.5, line=_SEPARATOR)
            )
        # A colour strip above the columns, labelled with the modality.
        shapes.append(
            dict(
                type="rect",
                x0=first - 0.5,
                x1=last + 0.5,
                y0=1.005,
                y1=1.03,
                xref="x",
                yref="paper",
                fillcolor=colours[modality],
                line={"width": 0},
            )
        )
        annotations.append(
            dict(
                x=(first + last) / 2,
                y=1.035,
                xref="x",
                yref="paper",
                text=plain(modality),
                showarrow=False,
                yanchor="bottom",
                font={"size": 12},
            )
        )
    fig.update_layout(shapes=shapes, annotations=annotations)
    bottom = _bottom_margin(labels, rotated=d > 6)
    height, left = _figure_size(d, _label_margin(names), bottom)
    fig.update_xaxes(
        tickvals=list(range(d)),
        ticktext=labels,
        tickangle=-45 if d > 6 else 0,
        title_text="Effect (target latent)",
        showgrid=False,
        zeroline=False,
        range=[-0.5, d - 0.5],
    )
    fig.update_yaxes(
        tickvals=list(range(d)),
        ticktext=labels,
        autorange="reversed",
        title_text="Cause (source latent)",
        showgrid=False,
        zeroline=False,
    )
    title = "Learned causal links between latents"
    note = f"Blank: {measure} below {threshold:g}" if threshold is not None else None
    apply_style(
        fig,
        title=title,
        note=note,
        height=height,
        margin={"l": left, "t": 90, "b": bottom},
    )
    return fig


def correlation_heatmap(
    true_names: Sequence[str],
    est_names: Sequence[str],
    corr: np.ndarray,
    matching: Mapping[int, int] | Sequence[tuple[int, int]] | Sequence[int] | np.ndarray | None = None,
) -> go.Figure:
    """How strongly each learned latent tracks each true latent: the matrix behind the MCC.

    corr: `(n_true, n_learned)` correlations (absolute values are shown, 0-1).
    matching: the one-to-one pairing used by the MCC: {true index: learned index} (as in
        `crl.analysis.metrics.MCCResult.matching`), (true, learned) pairs, a (rows, cols) tuple from
        `linear_sum_assignment`, or one learned index per true latent (-1 = unmatched). Matched cells are
        outlined and the title gives their mean (the MCC).
    """
    true_names = [str(n) for n in true_names]
    est_names = [str(n) for n in est_names]
    c = np.abs(np.asarray(corr, dtype=float))
    if c.shape != (len(true_names), len(est_names)):
        raise ValueError(
            f"corr must have shape ({len(true_names)}, {len(est_names)}) to match the names, got {c.shape}"
        )
    pairs = _pairs(matching, *c.shape)
    matched = {(i, j) for i, j in pairs}
    t_labels = [plain(n) for n in true_names]
    e_labels = [plain(n) for n in est_names]
    hover = np.empty(c.shape, dtype=object)
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            tag = "<br><b>matched pair</b>" if (i, j) in matched else ""
            hover[i, j] = f"true {t_labels[i]} · learned {e_labels[j]}: |r| = {c[i, j]:.2f}{tag}"
    # Numbers only in the matched cells, the ones the MCC averages: a number in every cell overlapped its
    # neighbours once the cells narrowed (at 150 % zoom); colour and hover give the rest.
    small = c.size <= 225
    numbers = [
        [f"{c[i, j]:.2f}" if (i, j) in matched and small else "" for j in range(c.shape[1])]
        for i in range(c.shape[0])
    ]
    fig = go.Figure(
        go.Heatmap(
            z=c,
            x=list(range(c.shape[1])),
            y=list(range(c.shape[0])),
            text=numbers,
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            texttemplate="%{text}",
            textfont={"size": 12},
            colorscale="Blues",
            zmin=0.0,
            zmax=1.0,
            xgap=1,
            ygap=1,
            colorbar={"title": {"text": "|correlation|", "side": "right"}, "thickness": 14, "len": 0.8},
        )
    )
    fig.update_layout(
        shapes=[
            dict(
                type="rect",
                x0=j - 0.5,
                x1=j + 0.5,
                y0=i - 0.5,
                y1=i + 0.5,
                line={"color": "#000000", "width": 2.5},
                fillcolor="rgba(0,0,0,0)",
            )
            for i, j in pairs
        ]
    )
    fig.update_xaxes(
        tickvals=list(range(len(est_names))),
        ticktext=e_labels,
        tickangle=-45 if len(est_names) > 6 else 0,
        title_text="Learned latent",
        showgrid=False,
        zeroline=False,
    )
    fig.update_yaxes(
        tickvals=list(range(len(true_names))),
        ticktext=t_labels,
        autorange="reversed",
        title_text="True latent",
        showgrid=False,
        zeroline=False,
    )
    title = "Learned latents against the true ones"
    if pairs:
        mcc = float(np.mean([c[i, j] for i, j in pairs]))
        title += f" (MCC {mcc:.2f})"
    bottom = _bottom_margin(est_names, rotated=len(est_names) > 6)
    height, left = _figure_size(c.shape[0], _label_margin(true_names), bottom)
    apply_style(fig, title=title, height=height, margin={"l": left, "b": bottom})
    return fig


def _pairs(matching: object, n_true: int, n_est: int) -> list[tuple[int, int]]:
    """Normalise a matching to (true index, learned index) pairs, dropping unmatched and out-of-range ones."""
    if matching is None:
        return []
    if isinstance(matching, Mapping):  # crl.analysis.metrics.MCCResult.matching: {true index: learned index}
        raw = [(int(a), int(b)) for a, b in matching.items()]
    elif isinstance(matching, tuple) and len(matching) == 2 and all(np.ndim(x) == 1 for x in matching):
        raw = [
            (int(a), int(b)) for a, b in zip(*matching, strict=True)
        ]  # (rows, cols) from linear_sum_assignment
    else:
        m = np.asarray(matching)
        if m.size == 0:
            return []
        if m.ndim == 2 and m.shape[1] == 2:
            raw = [(int(a), int(b)) for a, b in m]
        elif m.ndim == 1:
            raw = [(i, int(j)) for i, j in enumerate(m)]
        else:
            raise ValueError(
                "matching must be (true, learned) index pairs or one learned index per true latent"
            )
    return sorted((i, j) for i, j in raw if 0 <= i < n_true and 0 <= j < n_est)
