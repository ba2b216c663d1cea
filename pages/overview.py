"""Overview: the first screen. The current cohort and model in one view that fits a 1280x720 projector: the graph,
the story in a sentence or two, how far it can be believed, and where to go next."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crl.analysis.verdict import verdict
from crl.errors import CrlError
from crl.ui import cache, routing, run_cache, state
from crl.ui import graph_widgets as gw
from crl.viz.layout import labelled_layout, wrap_label
from crl.viz.network import latent_network_html, network_height

routing.enter_through_app(__file__)

CANVAS = 330  # px: the graph and its legend fit above the fold at 1280x720 with the text beside it


def _story(run: Path, cohort: Path, graph, labels: dict[str, str], confidence) -> list[str]:
    """The sentences beside the graph: what was learned, how well (with the truth), what not to trust."""
    threshold = run_cache.recorded_threshold(run)
    kept = graph.edges(threshold)
    across = int(kept["cross_modal"].sum())
    lines = [
        f"The model found **{len(graph.names)} hidden variables** in {len(graph.modalities)} modalities and "
        f"**{len(kept)} links** between them at strength {threshold:g}, {across} of them across modalities."
    ]
    if run_cache.has_truth(cohort):
        try:
            scores = run_cache.evaluation(run, cohort, threshold, r2=False)
            lines.append("Against the known truth: " + gw.md(verdict(scores, cache.labels(cohort))))
        except CrlError:
            pass  # the Evaluate page says why
    weak = [labels.get(n, n) for n in graph.names if confidence is not None and confidence.is_weak(n)]
    if weak:
        lines.append(
            f"**Not reliably recovered** (faded): {len(weak)} of {len(graph.names)} latents; hover one for why, "
            "and do not read their links as findings."
        )
    elif confidence is not None and confidence.has_restarts:
        lines.append(f"Every latent was found again in each of {confidence.restarts} restarts.")
    return lines


st.markdown("### Overview")
run = state.run_dir()
cohort_dir = state.cohort_dir()
if run is None:
    st.info(
        f"Cohort **{gw.md(state.cohort_label(cohort_dir))}** is loaded, but no model has been trained yet. "
        "Check the data on the Cohort page, then train one on the Train page."
    )
    st.page_link("pages/train.py", label="Train a model", icon=":material/model_training:")
    st.stop()

cohort = run_cache.recorded_cohort(run) or cohort_dir
try:
    graph = run_cache.graph(run)
    labels = run_cache.display_names(run, cohort)
except CrlError as error:
    gw.show_error(error, f"Reading {state.run_label(run)}")
    st.stop()
st.caption(
    f"Cohort **{gw.md(state.cohort_label(cohort))}** · model **{gw.md(state.run_label(run))}**. Pick another on "
    "the Latent graph or Train page."
)
confidence = run_cache.confidence(run)
left, right = st.columns([3, 2], gap="medium")
with left:
    names = [labels.get(n, n) for n in graph.names]
    weak, notes, rare = confidence.for_network(list(graph.names)) if confidence else ({}, {}, set())
    wrapped = [wrap_label(label) for label in names]
    modality_of = [cache.labels(cohort).modality(m) for m in graph.modality_of]  # as cohort.toml labels them
    page = latent_network_html(
        wrapped,
        modality_of,
        graph.weights,
        run_cache.recorded_threshold(run),
        weak=weak,
        edge_notes=notes,
        uncertain_edges=rare,
        height=CANVAS,
        positions=labelled_layout(modality_of, wrapped),
    )
    st.iframe(page, height=network_height(CANVAS))
with right:
    for line in _story(run, cohort, graph, labels, confidence):
        st.markdown(line)  # user-supplied names in it are escaped
    st.markdown("**Open next**")
    st.page_link(
        "pages/graph.py", label="The graph in detail: threshold, effects, tables", icon=":material/hub:"
    )
    st.page_link(
        "pages/traversal.py", label="What each latent does to the data", icon=":material/swap_horiz:"
    )
    st.page_link("pages/evaluate.py", label="How well it was recovered", icon=":material/analytics:")
    st.page_link("pages/cohort.py", label="The cohort's data", icon=":material/table_view:")
