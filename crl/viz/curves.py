"""Training curves (one line per loss term, validation dashed), several runs laid over each other, and a one-line
progress sentence."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from crl.viz.palette import NEUTRAL_MARK, OKABE_ITO
from crl.viz.style import apply_style, empty_figure, plain

# Columns of metrics.jsonl that are bookkeeping, not loss terms.
_META = {
    "step",
    "epoch",
    "lr",
    "learning_rate",
    "seconds",
    "elapsed",
    "time",
    "timestamp",
    "wall_time",
    "samples_per_second",
    "best_epoch",
    "restart",
}
_VALIDATION_PREFIXES = ("validation.", "validation_", "val.", "val_", "valid_")
_TRAIN_PREFIXES = ("train.", "train_", "training.", "losses.", "loss.")
TERM_NAMES = {
    "total": "Total loss",
    "loss": "Total loss",
    "reconstruction": "Reconstruction error",
    "likelihood": "Causal prior",
    "nll": "Causal prior",
    "kl": "KL divergence",
    "sparsity": "Sparsity penalty",
    "acyclicity": "Acyclicity penalty",
}


def term_label(term: str) -> str:
    """A plain-words name for a loss term as logged (e.g. 'reconstruction.sleep' -> 'Reconstruction: sleep')."""
    if term in TERM_NAMES:
        return TERM_NAMES[term]
    head, _, rest = term.partition(".")
    if head == "reconstruction" and rest:
        return f"Reconstruction: {rest}"
    text = term.replace("_", " ").replace(".", ": ")
    return text[:1].upper() + text[1:]


def _flatten(metrics: pd.DataFrame) -> pd.DataFrame:
    """Nested dict columns (e.g. {"train": {...}, "validation": {...}}) become dotted columns."""
    nested = [c for c in metrics.columns if metrics[c].map(lambda v: isinstance(v, Mapping)).any()]
    if not nested:
        return metrics
    return pd.json_normalize(metrics.to_dict("records"), sep=".")


def _strip(column: str, prefixes: Sequence[str]) -> str:
    prefix = next(p for p in prefixes if column.startswith(p))
    return column[len(prefix) :]


def _classify(columns: Sequence[str]) -> list[tuple[str, str, str]]:
    """(column, term, 'train' | 'validation') for each loss column, first occurrence of a (term, kind) wins."""
    out: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    has_validation_total = any(c in {f"{p}total" for p in _VALIDATION_PREFIXES} for c in columns)
    for column in columns:
        if column in _META:
            continue
        if column in ("validation_loss", "val_loss"):
            if has_validation_total:
                continue  # the same number as validation.total
            term, kind = "total", "validation"
        elif column.startswith(_VALIDATION_PREFIXES):
            term, kind = _strip(column, _VALIDATION_PREFIXES), "validation"
        elif column.startswith(_TRAIN_PREFIXES):
            term, kind = _strip(column, _TRAIN_PREFIXES), "train"
        else:
            term, kind = column, "train"
        if (term, kind) in seen:
            continue
        seen.add((term, kind))
        out.append((column, term, kind))
    return out


def _mark_restarts(fig: go.Figure, frame: pd.DataFrame, x: pd.Series) -> None:
    """A dotted line where each restart (crl.engine.restarts) begins, so its fresh curve does not read as a jump."""
    if "restart" not in frame.columns:
        return
    restart = pd.to_numeric(frame["restart"], errors="coerce")
    starts = x[restart.ne(restart.shift()) & restart.notna() & x.notna()].iloc[1:]
    for position, index in zip(starts, restart[starts.index], strict=True):
        fig.add_vline(
            x=float(position),
            line={"color": NEUTRAL_MARK, "width": 1, "dash": "dot"},
            annotation={"text": f"restart {int(index) + 1}", "font": {"size": 11}},
            annotation_position="top right",
        )


class _Log:
    """A metrics.jsonl table read for plotting: its loss series and the x they are drawn against."""

    def __init__(self, metrics: pd.DataFrame) -> None:
        self.frame = _flatten(metrics.reset_index(drop=True))
        x_column = next((c for c in ("step", "epoch") if c in self.frame.columns), None)
        self.x_title = {"step": "Training step", "epoch": "Epoch"}.get(x_column or "", "Logged entry")
        self.x = (
            pd.to_numeric(self.frame[x_column], errors="coerce")
            if x_column
            else pd.Series(np.arange(len(self.frame)), index=self.frame.index)
        )
        numeric = [
            c
            for c in self.frame.columns
            if pd.api.types.is_numeric_dtype(self.frame[c]) and self.frame[c].notna().any()
        ]
        self.series = _classify(numeric)  # (column, term, 'train' | 'validation')

    def line(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of one column, rows without either dropped, in x order."""
        values = pd.to_numeric(self.frame[column], errors="coerce")
        keep = values.notna() & self.x.notna()
        x = self.x[keep].to_numpy()
        y = values[keep].to_numpy(dtype=float)
        order = np.argsort(x, kind="stable")
        return x[order], y[order]


def _note_hidden_by_log(fig: go.Figure, names: Sequence[str]) -> None:
    """Say which lines a log axis cannot draw (zero or negative values), rather than dropping them silently."""
    if names:
        fig.add_annotation(
            text=plain(
                "Zero or negative values cannot be drawn on a log scale: " + ", ".join(dict.fromkeys(names))
            ),
            x=0.0,
            y=1.0,
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            font={"size": 12},  # the theme's text colour: light or dark
        )


def loss_curves(
    metrics: pd.DataFrame,
    *,
    log_y: bool = False,
    terms: Sequence[str] | None = None,
    height: int = 400,
) -> go.Figure:
    """One line per loss term against the training step; validation lines are dashed in the same colour.

    metrics: rows of metrics.jsonl as a DataFrame (flat columns like `total`, `validation.total`,
        `validation_loss`, or nested dicts under `train` / `validation`); x is `step`, else `epoch`.
    log_y: logarithmic loss axis (terms with zero or negative values cannot be drawn there; a note says so).
    terms: loss terms to show at first (others stay one legend click away); default: the main terms.
    """
    if metrics is None or len(metrics) == 0:
        return empty_figure("No training metrics yet: the curves appear after the first logged step.")
    log = _Log(metrics)
    series = log.series
    if not series:
        return empty_figure("The training log has no loss values to plot yet.")

    term_order = list(dict.fromkeys(term for _, term, _ in series))
    colours = {}
    palette = iter(OKABE_ITO * 4)
    for term in term_order:
        colours[term] = NEUTRAL_MARK if term in ("total", "loss") else next(palette)
    main = set(terms) if terms is not None else {t for t in term_order if t in TERM_NAMES}
    if not main:
        main = set(term_order)

    fig = go.Figure()
    pairs = {(term, kind) for _, term, kind in series}
    hidden_by_log = []
    for column, term, kind in series:
        x, y = log.line(column)
        if log_y and (y <= 0).any():
            hidden_by_log.append(term_label(term))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers" if len(x) < 3 else "lines",
                name=plain(term_label(term) + (" (validation)" if kind == "validation" else "")),
                # One legend entry per term: clicking it toggles the training and validation lines together.
                legendgroup=term,
                showlegend=kind == "train" or (term, "train") not in pairs,
                line={
                    "color": colours[term],
                    "width": 2.6 if term in ("total", "loss") else 1.8,
                    "dash": "dash" if kind == "validation" else "solid",
                },
                visible=True if term in main else "legendonly",
                hovertemplate="%{y:.4g}",
            )
        )
    _mark_restarts(fig, log.frame, log.x)
    fig.update_xaxes(title_text=log.x_title)
    fig.update_yaxes(title_text="Loss (log scale)" if log_y else "Loss", type="log" if log_y else "linear")
    fig.update_layout(
        hovermode="x unified",
        legend={
            "title": {
                "text": "<i>dashed: validation</i>" if any(k == "validation" for *_, k in series) else ""
            },
            "groupclick": "togglegroup",
        },
    )
    _note_hidden_by_log(fig, hidden_by_log)
    return apply_style(fig, title="Training progress", height=height)


def compare_curves(
    logs: Sequence[tuple[str, pd.DataFrame]], *, log_y: bool = False, height: int = 420
) -> go.Figure:
    """The total loss of several runs in one chart, a colour per run and validation dashed: comparing runs means
    laying their curves over each other, which separate charts with their own axes do not allow.

    logs: (run name, metrics.jsonl rows) pairs, in legend order.
    """
    fig = go.Figure()
    palette = iter(OKABE_ITO * 4)
    x_titles, hidden_by_log = set(), []
    for name, metrics in logs:
        colour = next(palette)
        if metrics is None or len(metrics) == 0:
            continue
        log = _Log(metrics)
        x_titles.add(log.x_title)
        totals = [(column, kind) for column, term, kind in log.series if term in ("total", "loss")]
        for column, kind in totals:
            x, y = log.line(column)
            if log_y and (y <= 0).any():
                hidden_by_log.append(name)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines+markers" if len(x) < 3 else "lines",
                    name=plain(name + (" (validation)" if kind == "validation" else "")),
                    legendgroup=name,  # one click hides a run's training and validation lines together
                    showlegend=kind == "train" or not any(k == "train" for _, k in totals),
                    line={"color": colour, "width": 2.2, "dash": "dash" if kind == "validation" else "solid"},
                    hovertemplate="%{y:.4g}",
                )
            )
    if not fig.data:
        return empty_figure("None of these runs has logged a loss yet.")
    fig.update_xaxes(title_text=" / ".join(sorted(x_titles)))
    fig.update_yaxes(
        title_text="Total loss (log scale)" if log_y else "Total loss", type="log" if log_y else "linear"
    )
    dashed = any(trace.line.dash == "dash" for trace in fig.data)
    fig.update_layout(
        hovermode="x unified",
        legend={
            "title": {"text": "<i>dashed: validation</i>" if dashed else ""},
            "groupclick": "togglegroup",
        },
    )
    _note_hidden_by_log(fig, hidden_by_log)
    return apply_style(fig, title="Total loss, run by run", height=height)


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(int(round(seconds)), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours} h {rest // 60:02d} min"


def _number(status: Mapping, *keys: str) -> float | None:
    for key in keys:
        value = status.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def progress_text(status: Mapping) -> str:
    """One plain-text sentence for a run's status.json (state, progress, device, error, ...).

    Understands `state` (queued/running/done/failed/stopped), `progress` (a 0-1 fraction or a dict with the
    keys below), `epoch`, `epochs` / `max_epochs`, `step`, `total_steps`, `device`, `eta_seconds` /
    `seconds_left`, `elapsed` / `seconds`, `best_validation_loss`, `best_epoch`, `restart` / `restart_count`
    (while training) and `restarts` / `kept_restart` (crl.engine.restarts), `error`; missing keys are
    simply left out of the sentence. Plain text: escape it before showing it as Markdown or HTML.
    """
    s = dict(status or {})
    if isinstance(s.get("progress"), Mapping):
        s = {**s, **s["progress"]}
    state = str(s.get("state", "unknown")).lower()
    device = s.get("device")
    on = f" on {device}" if device else ""
    epoch = _number(s, "epoch")
    epochs = _number(s, "epochs", "max_epochs", "total_epochs")
    step = _number(s, "step")
    steps = _number(s, "total_steps", "steps_total", "max_steps")
    fraction = _number(s, "progress", "fraction")
    if fraction is None and epoch is not None and epochs:
        fraction = epoch / epochs
    if fraction is None and step is not None and steps:
        fraction = step / steps
    where = ""
    if epoch is not None and epochs:
        where = f"epoch {int(epoch)} of {int(epochs)}"
    elif epoch is not None:
        where = f"epoch {int(epoch)}"
    elif step is not None and steps:
        where = f"step {int(step)} of {int(steps)}"
    elif step is not None:
        where = f"step {int(step)}"
    restart, restart_count = _number(s, "restart"), _number(s, "restart_count")
    if where and restart is not None and restart_count and restart_count > 1:
        where = f"restart {int(restart) + 1} of {int(restart_count)}, {where}"
    best = _number(s, "best_validation_loss")
    best_epoch = _number(s, "best_epoch")
    best_text = ""
    if best is not None:
        best_text = f"best validation loss {best:.4g}" + (
            f" (epoch {int(best_epoch)})" if best_epoch is not None else ""
        )
    kept, restarts = _number(s, "kept_restart"), s.get("restarts")
    if best is not None and kept is not None and isinstance(restarts, list) and len(restarts) > 1:
        seed = next(
            (r.get("seed") for r in restarts if isinstance(r, Mapping) and r.get("restart") == kept), None
        )
        of = f"restart {int(kept) + 1} of {len(restarts)}" + (f", seed {seed}" if seed is not None else "")
        best_text = f"best validation loss {best:.4g}, from {of}"

    if state == "queued":
        return "Waiting to start" + on + "."
    if state == "running":
        parts = ["Training" + on + (f": {where}" if where else "")]
        if fraction is not None:
            parts[0] += f" ({100 * min(max(fraction, 0.0), 1.0):.0f} %)"
        eta = _number(s, "eta_seconds", "seconds_left", "eta")
        if eta is not None:
            parts.append(f"about {_duration(eta)} left")
        if best_text:
            parts.append(best_text)
        return " · ".join(parts) + "."
    if state == "done":
        elapsed = _number(s, "elapsed", "seconds", "elapsed_seconds")
        text = "Finished" + (f" after {_duration(elapsed)}" if elapsed is not None else "") + on
        return text + (f"; {best_text}." if best_text else ".")
    if state == "failed":
        error = str(s.get("error") or "no reason was recorded").strip()
        return f"Training failed{(' at ' + where) if where else ''}: {error}"
    if state == "stopped":
        return (
            "Stopped by request"
            + (f" at {where}" if where else "")
            + (f"; {best_text}." if best_text else ".")
        )
    return f"Status: {state}" + (f", {where}" if where else "") + "."
