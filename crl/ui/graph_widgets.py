"""Widgets shared by the result pages: run picker, empty state, readable errors, latent-name editor, exports."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from crl.analysis.graph import LatentGraph
from crl.errors import CrlError
from crl.ui import state

# Characters that start markup inside a line: emphasis, code, links, HTML, LaTeX, tables, colour/icon directives.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$~|#:])")
_FLASH = "graph_widgets.flash"


def md(text: object) -> str:
    """User text made literal inside st.markdown: no emphasis, links, HTML, LaTeX or colour directives."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def run_picker(key: str, label: str = "Trained model") -> Path | None:
    """A select box over the available runs, kept in step with the shared sidebar; None when there is none."""
    runs = [str(p) for p in state.available_runs()]
    current = state.run_dir()
    if current is not None and str(current) not in runs:
        runs.insert(0, str(current))
    if not runs:
        return None
    index = runs.index(str(current)) if current is not None else 0
    choice = st.selectbox(
        label,
        runs,
        index=index,
        format_func=lambda p: state.run_label(Path(p)),
        key=key,
        help="Runs are read from the runs folder ($CRL_RUNS, else ./runs); the newest comes first.",
    )
    if current is None or choice != str(current):
        state.set_run_dir(Path(choice))
        if current is not None:
            st.rerun()  # the sidebar, drawn before this page, names the current run: redraw it
    return Path(choice)


def no_runs(what: str) -> None:
    """The empty state: why there is nothing to show, and the way to the Train page."""
    st.info(
        f"There is no trained model yet, so there is no {what} to show. Train one on the Train page "
        "(a few minutes on the demo cohort), or point $CRL_RUNS at a folder of run folders."
    )
    st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")


def show_error(error: BaseException, context: str) -> None:
    """A readable st.error for any failure: CrlError messages already say how to fix it."""
    if isinstance(error, CrlError):
        st.error(f"{context}: {md(error)}")
    else:
        st.error(
            f"{context} failed unexpectedly ({md(type(error).__name__)}: {md(error)}). "
            "Reload the page; if it happens again, pick another run or retrain this one, and report the message."
        )


def flash(message: str) -> None:
    """A success message shown once on the next run (survives st.rerun)."""
    st.session_state[_FLASH] = message


def show_flash() -> None:
    message = st.session_state.pop(_FLASH, None)
    if message:
        st.success(message)


def names_editor(
    run: Path,
    graph: LatentGraph,
    names: Mapping[str, str],
    base: Mapping[str, str],
    modality_name: Callable[[str], str] = str,
) -> None:
    """A table to rename latents; saving writes `<run>/names.json` and reruns so every view shows the new names.
    `modality_name` gives a modality's name as shown (its cohort.toml label)."""
    from crl.analysis.names import MAX_LENGTH, blank_names, save_names

    table = pd.DataFrame(
        {
            "latent": list(graph.names),
            "modality": [modality_name(m) for m in graph.modality_of],
            "name": [names.get(n, n) for n in graph.names],
        }
    )
    version = abs(hash(tuple(table["name"]))) % 10**8  # new names, fresh editor state
    with st.form(key=f"names-form:{run}:{version}", border=False):
        edited = st.data_editor(
            table,
            hide_index=True,
            width="stretch",
            disabled=["latent", "modality"],
            column_config={
                "latent": st.column_config.TextColumn("Latent (as saved)", width="small"),
                "modality": st.column_config.TextColumn("Modality", width="small"),
                "name": st.column_config.TextColumn(
                    "Display name",
                    help=f"Shown in the graph, tables and exports; up to {MAX_LENGTH} characters. "
                    "Clear a cell to go back to the default.",
                    max_chars=MAX_LENGTH,
                ),
            },
            key=f"names-editor:{run}:{version}",
        )
        saved = st.form_submit_button("Save names", type="primary")
    if saved:
        typed = dict(zip(edited["latent"], edited["name"].fillna(""), strict=False))
        try:
            save_names(run, typed, base)
        except CrlError as error:
            show_error(error, "The names were not saved")
            return
        message = f"Names saved in {md(run.name)}/names.json."
        blank = [latent for latent in blank_names(typed) if latent in base]
        if blank:
            back = ", ".join(f"{md(base[latent])} ({md(latent)})" for latent in blank)
            message += f" Empty names went back to the default: {back}."
        flash(message)
        st.rerun()


def export_buttons(
    graph: LatentGraph, threshold: float, labels: Mapping[str, str], key: str, confidence=None
) -> None:
    """Download buttons for every export format; the files are built only when a button is clicked.

    confidence: the run's crl.analysis.export.Confidence (restarts' agreement), carried into the files."""
    from crl.analysis.export import export_graph

    formats = [
        ("graphml", "GraphML", "application/xml", "Cytoscape, Gephi, yEd"),
        ("dot", "DOT", "text/vnd.graphviz", "Graphviz"),
        ("json", "JSON", "application/json", "scripts"),
        ("csv", "CSV", "text/csv", "spreadsheets: the kept edges"),
        ("html", "HTML", "text/html", "an offline page of this graph"),
        ("svg", "SVG", "image/svg+xml", "slides and papers: a picture of this graph"),
    ]
    columns = st.columns(len(formats))
    for column, (fmt, title, mime, use) in zip(columns, formats, strict=False):
        column.download_button(
            title,
            data=functools.partial(export_graph, graph, fmt, threshold, dict(labels), confidence),
            file_name=f"latent-graph.{fmt}",
            mime=mime,
            key=f"{key}:{fmt}",
            help=f"Edges with strength ≥ {threshold:g}, for {use}.",
            icon=":material/download:",
            width="stretch",
        )


def slider_range(graphs: list[LatentGraph]) -> tuple[float, float]:
    """The threshold slider's top and step: up to the strongest weight of the runs shown, rounded up."""
    top = max((float(np.abs(g.weights).max()) if g.weights.size else 0.0) for g in graphs)
    top = 1.0 if top <= 0 else top
    top = float(np.ceil(top * 100) / 100)
    return top, (0.01 if top <= 2 else round(top / 100, 4))
