"""Latent graph page: the learned causal graph between latents, its threshold, identifiability, truth and exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from crl.analysis.graph import LatentGraph
from crl.errors import CrlError
from crl.runs.run import Run
from crl.ui import cache, model_cache, routing, run_cache, state, url_state
from crl.ui import graph_widgets as gw
from crl.ui.graph_tables import draw_tables, latent_table, link_table
from crl.ui.report_button import report_button
from crl.ui.side_by_side import side_by_side
from crl.viz.heatmap import adjacency_heatmap
from crl.viz.layout import labelled_layout, wrap_label
from crl.viz.network import latent_network_html, network_height

# How links can be judged: the graph's gate strength, or the effect size read from the flows.
STRENGTH, EFFECT = "Strength", "Effect size"
DEFAULT_MIN_EFFECT = 0.1

routing.enter_through_app(__file__)


def _canvas_height(latents: int, covariates: int) -> int:
    """Taller for bigger graphs: vis-network zooms to fit, so a short canvas shrinks 30 nodes to dots."""
    return int(min(max(460 + 12 * latents + 6 * covariates, 560), 840))


st.title("Latent graph")
st.caption(
    "The causal links the model learned between latent variables. Arrows point from cause to effect; "
    "thicker, more solid lines are stronger links. Only links across modalities are identifiable from data."
)
gw.show_flash()


def _unique(labels: list[str], names: tuple[str, ...]) -> list[str]:
    """Display labels with duplicates told apart by their saved name, so no two nodes read the same."""
    counts = pd.Series(labels).value_counts()
    return [
        f"{label} ({name})" if counts[label] > 1 else label
        for label, name in zip(labels, names, strict=False)
    ]


def _identifiability_panel(report, labels_by_index: dict[str, int], modality_name) -> None:
    blocked = [m for m in report.modalities.values() if not m.identified]
    if not blocked:
        st.success(
            "**Identifiability:** at this threshold every latent can be pinned down one by one by the data "
            f"({report.cross_links} cross-modal links).",
            icon=":material/verified:",
        )
    else:
        names = ", ".join(gw.md(modality_name(m.name)) for m in blocked)
        st.warning(
            f"**Identifiability:** in {names}, some latents are identified only together with others of their "
            "modality (dashed nodes): the data cannot separate them one by one at this threshold. "
            "Hover a dashed node, or open the details below.",
            icon=":material/join_inner:",
        )
    with st.expander("Which latents can the data pin down one by one?"):
        for m in report.modalities.values():
            if m.identified:
                st.markdown(
                    f"- **{gw.md(modality_name(m.name))}** ({len(m.latents)} latents): each one is pinned down "
                    "on its own."
                )
                continue
            st.markdown(
                f"- **{gw.md(modality_name(m.name))}**: identified only as a block: "
                f"{gw.md(', '.join(m.block_only))}."
                + (f" Still pinned down one by one: {gw.md(', '.join(m.pinned))}." if m.pinned else "")
            )
            if m.witness:
                st.markdown(f"  {gw.md(m.witness.plain)}")
                st.caption("Technically: " + gw.md(m.witness.text))
        st.caption("How this is decided: " + " ".join(gw.md(limit) for limit in report.limits))


def _truth_panel(run: Path, cohort: Path, graph: LatentGraph, adjacency: np.ndarray, labels: dict) -> None:
    from crl.analysis.compare import compare_graph

    try:
        match = run_cache.truth_match(run, cohort)
        result, table = compare_graph(match, adjacency, labels, run_cache.true_names(cohort))
    except Exception as error:  # noqa: BLE001 - any failure becomes a readable message
        gw.show_error(error, "Comparing with the true graph")
        return
    cols = st.columns(5)
    cols[0].metric(
        "SHD", result.total, help="Structural Hamming distance: edge additions + deletions + reversals."
    )
    cols[1].metric(
        "Cross-modal SHD",
        result.cross.total if result.cross is not None else "—",
        help="The same count on links between modalities: the part the method can identify.",
    )
    cols[2].metric(
        "Edge F1",
        f"{result.adjacency_f1:.2f}",
        help="F1 of the links whatever their direction, as on the Evaluate page.",
    )
    cols[3].metric("Edge F1 (with direction)", f"{result.orientation_f1:.2f}")
    cols[4].metric(
        "Latent MCC", f"{match.mcc:.2f}", help="Mean |correlation| of matched learned and true latents."
    )
    st.caption(
        f"Learned latents are matched to true ones within each modality ({match.subjects:,} subjects); "
        "the comparison uses every link at the current threshold, within and across modalities."
    )
    if len(table):
        st.dataframe(
            table.rename(
                columns={
                    "learned": "Learned link",
                    "true": "True link",
                    "status": "Status",
                    "cross_modal": "Across modalities",
                }
            ),
            hide_index=True,
            width="stretch",
        )


@st.fragment
def _confidence_note(confidence, weak_labels: list[str]) -> None:
    """One line on how far the drawing can be believed: what was measured and which latents to leave alone."""
    if confidence is None or not confidence.has_restarts:
        st.caption(
            "This model was trained once, so how far each latent and link would hold in another training is not "
            "known. Training with several restarts (Model page, Restarts) measures it."
        )
    if weak_labels:
        st.warning(
            f"**Not reliably recovered** (faded): {gw.md(', '.join(weak_labels))}. Hover one for the reason: "
            "no footprint in the other modalities, or not found again when trained from other starting points. "
            "Do not interpret these latents or their links.",
            icon=":material/report:",
        )
    elif confidence is not None and confidence.has_restarts:
        st.caption(
            f"Every latent was found again in each of {confidence.restarts} restarts; hover a link to see how often."
        )


def _side_by_side_pane(run, graph, base, levels, graphs, names, threshold, judge, modality_name) -> None:
    if judge == EFFECT:
        st.caption("Side by side compares link strengths: set 'Judge links by' to Strength above.")
        return
    shown_folder = (
        run
        if graph is base
        else next(lv.folder for lv, g in zip(levels, graphs[1:], strict=True) if g is graph)
    )
    if Run(shown_folder).has_latents:
        by_name = dict(zip(graph.names, names, strict=False))
        side_by_side(run, shown_folder, graph, by_name, threshold, levels, modality_name)
    else:
        st.caption(
            "This sparsity level kept no latents of its own to match; pick 'as trained' above to compare."
        )


def graph_view(run: Path, cohort: Path | None, labels: dict[str, str]) -> None:
    """Everything the threshold slider changes; a fragment, so moving it reruns only this part."""
    try:
        _graph_view(run, cohort, labels)
    except Exception as error:  # noqa: BLE001 - a fragment rerun is not covered by the page's own guard
        gw.show_error(error, f"Drawing the graph of {run.name}")


def _graph_view(run: Path, cohort: Path | None, labels: dict[str, str]) -> None:
    levels = run_cache.sparsity_levels(run)
    base = run_cache.graph(run)
    graphs = [base] + [run_cache.graph(run, level.folder) for level in levels]
    top, step = gw.slider_range(graphs)
    recorded = min(max(run_cache.recorded_threshold(run), 0.0), top)

    has_covariates = cohort is not None and run_cache.has_covariates(cohort)
    display = cache.labels(cohort)  # modality and covariate names as cohort.toml labels them
    has_model = model_cache.has_model(run)
    if has_model:
        url_state.seed(
            "links", f"judge:{run}", STRENGTH, lambda v: v if v in (STRENGTH, EFFECT) else STRENGTH
        )
    judge = (
        st.segmented_control(
            "Judge links by",
            [STRENGTH, EFFECT],
            key=f"judge:{run}",
            help="Strength is how sure the model is that a link exists; it saturates near 1 once the link is "
            "decided, so kept links look alike. Effect size is how many standard deviations the effect moves when "
            "the cause rises by one of its own (from half an SD below to half above), read from the model with the other "
            "causes held.",
        )
        if has_model
        else None
    )
    if has_model:
        url_state.keep("links", f"judge:{run}")
    # Sliders on one row, switches on the next: switch labels stay whole on a narrow window.
    sliders = iter(st.columns(3, gap="medium"))
    switches = st.columns(2, gap="medium")  # two switches: half the width each, so labels stay whole at 150 %
    first = next(sliders)
    graph = base
    if judge == EFFECT:
        recorded_threshold = run_cache.recorded_threshold(run)
        effects = model_cache.link_effects(run, recorded_threshold)
        graph = LatentGraph(base.names, np.nan_to_num(effects, nan=0.0))
        top_effect = max(0.05, float(np.ceil(np.nanmax(np.abs(effects), initial=0.0) * 20) / 20))
        threshold = first.slider(
            "Minimum effect (SD per SD)",
            min_value=0.0,
            max_value=top_effect,
            value=min(DEFAULT_MIN_EFFECT, top_effect),
            step=0.01,
            key=f"effect:{run}",
            help=f"Links kept at strength {recorded_threshold:g} whose effect is at least this large, either "
            "sign. Line widths follow the effect size; red arrows mean more of the cause gives less of the effect.",
        )
    else:
        url_state.seed("threshold", f"threshold:{run}", recorded, lambda v: min(max(float(v), 0.0), top))
        threshold = first.slider(
            "Link strength threshold",
            min_value=0.0,
            max_value=top,
            step=step,
            key=f"threshold:{run}",
            help="Links at least this strong are kept. The run's own threshold is "
            f"{run_cache.recorded_threshold(run):g}.",
        )
        url_state.keep("threshold", f"threshold:{run}")
    if levels and judge != EFFECT:
        options = ["as trained"] + [level.label for level in levels]
        picked = next(sliders).select_slider(
            "Sparsity weight",
            options=options,
            key=f"sparsity:{run}",
            help="The same model retrained along a path of sparsity weights: a stronger weight keeps fewer "
            "links. 'as trained' is the run's own graph.",
        )
        if picked != "as trained":
            graph = graphs[options.index(picked)]
        counts = [int(g.adjacency(threshold).sum()) for g in graphs]
        same = (
            "; every level keeps as many: the likelihood pays for these links more than the sparsity weight "
            "costs, so judge them by effect size and, with restarts, by how often they are found again"
            if len(set(counts)) == 1
            else ""
        )
        st.caption(
            f"Links at ≥ {threshold:g} by sparsity weight: "
            + ", ".join(f"{o} {c}" for o, c in zip(options, counts, strict=True))
            + f"{same}."
        )
    cross_only = switches[0].toggle(
        "Only links across modalities",
        key=f"cross-only:{run}",
        help="Within-modality links are not identifiable from data; hide them to focus on the rest.",
    )
    covariate_edges: list[tuple[str, int, float]] = []
    links = None
    if has_covariates:
        show_cov = switches[1].toggle(
            "Clinical covariates",
            key=f"covariates:{run}",
            help="Links between observed clinical variables and latents, found by the PC algorithm "
            "(Fisher-z tests) on the learned latents plus the covariates, as in the paper.",
        )
        alpha_column = next(sliders)
        if show_cov:
            alpha = alpha_column.slider(
                "PC significance level α",
                min_value=0.01,
                max_value=0.30,
                value=0.10,
                step=0.01,
                key=f"alpha:{run}",
                help="Smaller α keeps only links with stronger evidence.",
            )
            try:
                links = run_cache.covariate_links(run, cohort, alpha)
                index = {name: i for i, name in enumerate(graph.names)}
                covariate_edges = [
                    (display.covariate(c), index[z], s) for c, z, s in links.latent_links() if z in index
                ]
            except Exception as error:  # noqa: BLE001
                gw.show_error(error, "Linking the clinical covariates")

    names = _unique([labels.get(n, n) for n in graph.names], graph.names)
    modality_of = [display.modality(m) for m in graph.modality_of]
    adjacency = graph.adjacency(threshold)
    report = run_cache.identifiability(graph, adjacency, names)
    by_label = {label: i for i, label in enumerate(names)}
    block_only = [by_label[label] for label in report.block_only if label in by_label]

    details: list[str] = [""] * len(names)
    if cohort is not None:
        try:
            drive = run_cache.drivers(run, cohort)
            details = [drive.get(n, "") for n in graph.names]
        except Exception:  # noqa: BLE001 - hover text is a nicety: the graph stands without it
            pass
    drivers = list(details)  # the Tables tab's "Moves with", before the identifiability notes join the hover
    for m in report.modalities.values():
        if m.witness is not None:
            for label in m.block_only:
                i = by_label[label]
                details[i] = (details[i] + "\n\n" if details[i] else "") + m.witness.plain

    # Restarts' agreement describes the graph as trained, not a refit sparsity level.
    confidence = run_cache.confidence(run) if graph is base or judge == EFFECT else None
    weak, notes, rare = confidence.for_network(list(graph.names)) if confidence else ({}, {}, set())

    wrapped = [wrap_label(label) for label in names]
    height = _canvas_height(len(names), len({c for c, _, _ in covariate_edges}))
    page = latent_network_html(
        wrapped,
        modality_of,
        graph.weights,
        threshold,
        cross_modal_only=cross_only,
        node_details=details,
        block_only=block_only,
        covariate_edges=covariate_edges,
        weak=weak,
        edge_notes=notes,
        uncertain_edges=rare,
        height=height,
        positions=labelled_layout(modality_of, wrapped),
        weight_label="Effect, SD per SD of the cause" if judge == EFFECT else "Strength",
    )
    st.iframe(page, height=network_height(height))
    st.caption(
        "Hover a latent or a link for details; scroll to zoom and drag the background to pan. Nodes keep "
        "their places whatever the threshold, so links can be compared as they appear and vanish."
    )
    _confidence_note(confidence, [names[i] for i in weak])
    _identifiability_panel(report, by_label, display.modality)

    tabs = [
        "Adjacency matrix",
        "Tables",
        "Compared with the truth",
        "Clinical covariates",
        "Side by side",
        "Export",
    ]
    has_truth = run_cache.has_truth(cohort)
    shown = [
        t
        for t in tabs
        if (t != "Compared with the truth" or has_truth) and (t != "Clinical covariates" or links)
    ]
    panes = dict(zip(shown, st.tabs(shown), strict=False))
    with panes["Adjacency matrix"]:
        st.caption(
            "Rows are causes, columns are effects; cells below the threshold are blank but keep their hover "
            "text. To save the matrix as a PNG, use the camera icon in the chart's toolbar."
        )
        figure = adjacency_heatmap(
            names,
            graph.weights,
            modality_of,
            threshold,
            "effect size" if judge == EFFECT else "strength",
        )
        st.plotly_chart(
            figure,
            key=f"adjacency:{run}",
            config={"toImageButtonOptions": {"format": "png", "filename": "latent-adjacency", "scale": 2}},
        )
    with panes["Tables"]:
        measure = "Effect size" if judge == EFFECT else "Strength"
        draw_tables(
            latent_table(graph, names, confidence, drivers, modality_of),
            link_table(graph, names, threshold, cross_only, confidence, measure),
        )
    if "Compared with the truth" in panes:
        with panes["Compared with the truth"]:
            _truth_panel(run, cohort, graph, adjacency, dict(zip(graph.names, names, strict=False)))
    if "Clinical covariates" in panes:
        with panes["Clinical covariates"]:
            shown_links = links.edges[links.edges["kind"] != "latent–latent"]
            # Links to latents first: they are what places the learned variables among measured ones.
            shown_links = shown_links.sort_values(
                ["kind", "strength"], ascending=[False, False], ignore_index=True
            ).copy()
            latent_label = dict(zip(graph.names, names, strict=False))
            shown_links["b"] = [latent_label.get(b) or display.covariate(b) for b in shown_links["b"]]
            st.caption(
                f"PC algorithm, Fisher-z tests at α = {links.alpha:g} on {links.subjects:,} subjects. "
                "Orientation: → cause to effect, — undecided. Strength is the pair's |correlation|."
                + (
                    " Left out: "
                    + gw.md(
                        ", ".join(f"{display.covariate(k)} ({v})" for k, v in links.dropped_columns.items())
                    )
                    + "."
                    if links.dropped_columns
                    else ""
                )
            )
            arrows = {"->": "→", "<-": "←", "--": "—", "<->": "↔"}
            st.dataframe(
                pd.DataFrame(
                    {
                        "Clinical variable": [display.covariate(a) for a in shown_links["a"]],
                        "Link": shown_links["orientation"].map(arrows),
                        "With": shown_links["b"],
                        "Strength": shown_links["strength"].round(3),
                    }
                ),
                hide_index=True,
                width="stretch",
            )
    with panes["Side by side"]:
        _side_by_side_pane(run, graph, base, levels, graphs, names, threshold, judge, display.modality)
    with panes["Export"]:
        st.caption(
            (
                f"Every link with an effect size of at least {threshold:g} (the weights in the files are effect "
                "sizes)"
                if judge == EFFECT
                else f"Every link at or above {threshold:g}"
            )
            + ", within and across modalities, with your latent names "
            "(the covariate links are not included). SVG is a picture of this graph for slides and papers; for "
            "a picture of the matrix, use the camera icon in the adjacency heatmap's toolbar: it saves a PNG."
        )
        gw.export_buttons(
            graph,
            threshold,
            dict(zip(graph.names, names, strict=False)),
            key=f"export:{run}",
            confidence=confidence,
        )
        report_button(run, cohort, key=f"report:{run}")


run = gw.run_picker("graph-run")
if run is None:
    gw.no_runs("latent graph")
    st.stop()

try:
    run_cache.graph(run)
except CrlError as error:
    if not Run(run).has_graph:
        st.warning(
            f"**{gw.md(run.name)}** has no learned graph yet: it may still be training, or it stopped early. "
            "Check it on the Train page, or pick another run above."
        )
        st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
    else:
        gw.show_error(error, f"Reading the graph of {run.name}")
    st.stop()
except Exception as error:  # noqa: BLE001
    gw.show_error(error, f"Reading the graph of {run.name}")
    st.stop()

try:
    run_cache.config(run)
except CrlError as error:
    st.warning(
        f"{gw.md(error)} Meanwhile the graph is shown with the default threshold and the current cohort."
    )

cohort = run_cache.recorded_cohort(run)
if cohort is None:
    cohort = state.cohort_dir()
    st.caption(
        f"The run does not record a cohort that still exists; hover details use the current cohort "
        f"**{gw.md(cohort.name)}**."
    )

try:
    labels = run_cache.display_names(run, cohort)
except CrlError as error:
    gw.show_error(error, "Reading your latent names")
    labels = run_cache.base_names(run, cohort)

try:
    graph_view(run, cohort, labels)
    with st.expander("Rename latents"):
        st.caption(
            "Give latents names that mean something to you (e.g. after the features they move with: hover a "
            "node). Names are saved with the run in names.json."
        )
        modality_name = cache.labels(cohort).modality
        gw.names_editor(run, run_cache.graph(run), labels, run_cache.base_names(run, cohort), modality_name)
except Exception as error:  # noqa: BLE001
    gw.show_error(error, f"Showing the graph of {run.name}")
