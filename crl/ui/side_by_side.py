"""Two graphs side by side (another run, or another sparsity level of this one), latents matched between them.

Latents are defined only up to order and sign within a modality, so "Sleep 1" of one run need not be "Sleep 1"
of another: the right graph is drawn in the left run's names, matched by the correlation of the latents
(crl.analysis.stability), and a table says which links both share and which only one has.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from crl.analysis.graph import LatentGraph
from crl.analysis.stability import compare_links
from crl.runs.run import Run
from crl.ui import graph_widgets as gw
from crl.ui import run_cache, state
from crl.viz.layout import labelled_layout, wrap_label
from crl.viz.network import latent_network_html, network_height

HEIGHT = 420
WHERE = {"both": "in both", "only left": "only on the left", "only right": "only on the right"}


def _choices(run: Path, shown: Path, graph: LatentGraph, levels) -> dict[str, tuple[Path, str]]:
    """Label -> (folder holding graph.csv and latents.csv, what it is): this run as trained and its sparsity
    levels (but not the one shown), and other runs with the same modalities."""
    out: dict[str, tuple[Path, str]] = {}
    if Path(shown) != Path(run):
        out["this run as trained"] = (Path(run), "run")
    for level in levels:
        if Path(level.folder) != Path(shown) and Run(level.folder).has_latents:
            out[f"this run at sparsity {level.label}"] = (level.folder, "level")
    modalities = set(graph.modality_of)
    for other in state.available_runs():
        if Path(other) == Path(run) or not Run(other).has_latents:
            continue
        try:
            if set(run_cache.graph(other).modality_of) == modalities:
                out[state.run_label(other)] = (Path(other), "run")
        except Exception:  # noqa: BLE001 - a run that cannot be read is simply not offered
            continue
    return out


def side_by_side(
    run: Path,
    shown: Path,
    left: LatentGraph,
    labels: dict[str, str],
    threshold: float,
    levels,
    modality_name: Callable[[str], str] = str,
) -> None:
    """The 'Side by side' tab of the Latent graph page: `left` is the graph shown, read from folder `shown` (the
    run, or one of its sparsity levels); `modality_name` gives a modality's name as shown."""
    choices = _choices(run, shown, left, levels)
    if not choices:
        st.info(
            "Nothing to compare with yet: train another model on this cohort, or refit this one along a sparsity "
            "path (Train page), and it appears here."
        )
        return
    picked = st.selectbox(
        "Compare with",
        list(choices),
        index=None,
        placeholder="another run on this cohort, or another sparsity level",
        key=f"side-by-side:{run}",
        help="Draws the two graphs next to each other, the other one's latents named after the ones they match here.",
    )
    if picked is None:  # nothing is matched or drawn until asked: the page stays quick
        return
    folder, kind = choices[picked]
    right = run_cache.graph(run, folder) if kind == "level" else run_cache.graph(folder)
    try:
        matching, table = compare_links(
            run_cache.latents(shown),
            left.edges(threshold),
            run_cache.latents(folder),
            right.edges(threshold),
            threshold,
        )
    except Exception as error:  # noqa: BLE001
        gw.show_error(error, "Matching the two runs' latents")
        return
    left_names = [labels.get(n, n) for n in left.names]
    right_names = [
        labels.get(matching[n].latent, matching[n].latent) if n in matching else f"{n} (unmatched)"
        for n in right.names
    ]
    columns = st.columns(2, gap="medium")
    for column, graph, names, title in (
        (columns[0], left, left_names, state.run_label(run)),
        (columns[1], right, right_names, picked),
    ):
        wrapped = [wrap_label(n) for n in names]
        modality_of = [modality_name(m) for m in graph.modality_of]
        column.markdown(f"**{gw.md(title)}**")
        column.iframe(
            latent_network_html(
                wrapped,
                modality_of,
                graph.weights,
                threshold,
                height=HEIGHT,
                positions=labelled_layout(modality_of, wrapped),
            ),
            height=network_height(HEIGHT),
        )
    weak = [m for m in matching.values() if m.correlation < 0.7]
    st.caption(
        "The right graph is drawn in the left model's names: each of its latents takes the name of the left latent "
        f"it correlates with most, within its modality (|correlation| {min((m.correlation for m in matching.values()), default=1):.2f} "
        f"to {max((m.correlation for m in matching.values()), default=1):.2f})."
        + (f" {len(weak)} latent(s) match below 0.7: read their links with care." if weak else "")
    )
    if table.empty:
        st.caption(f"Neither graph has a link at or above {threshold:g}.")
        return
    rows = pd.DataFrame(
        {
            "Cause": [labels.get(s, s) for s in table["source"]],
            "Effect": [labels.get(t, t) for t in table["target"]],
            "Left": table["left_weight"].round(2),
            "Right": table["right_weight"].round(2),
            "Found": table["where"].map(WHERE),
        }
    )
    counts = table["where"].value_counts()
    st.markdown(
        f"At threshold {threshold:g}: **{counts.get('both', 0)}** links in both, "
        f"**{counts.get('only left', 0)}** only on the left, **{counts.get('only right', 0)}** only on the right."
    )
    st.dataframe(rows.replace({np.nan: None}), hide_index=True, width="stretch")
