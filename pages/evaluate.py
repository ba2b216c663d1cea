"""Evaluate page: how well a run recovered the true latents and graph, and several runs side by side."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import streamlit as st

from crl.analysis.verdict import verdict
from crl.graphs.names import split_latent_name
from crl.ui import cache, routing, run_cache, state
from crl.ui import graph_widgets as gw
from crl.viz.curves import compare_curves, loss_curves
from crl.viz.heatmap import correlation_heatmap
from crl.viz.style import plain

routing.enter_through_app(__file__)

VALIDATION_COLUMNS = ("validation_loss", "validation.total", "val_loss", "validation.loss")
# One definition of edge F1 everywhere (the Latent graph page and the report use it too): links, any direction.
EDGE_F1 = "Edge F1"

st.title("Evaluate")
st.caption(
    "How well a trained model recovered the hidden variables and their causal links. Scores need ground "
    "truth, which only synthetic cohorts have; training curves and run comparisons work for every run."
)


def _cohort_of(run: Path) -> Path | None:
    return run_cache.recorded_cohort(run)


def _scores(run: Path) -> tuple[dict | None, str | None]:
    """(metrics, None) against the run's cohort truth, or (None, why not)."""
    cohort = _cohort_of(run)
    if cohort is None:
        return None, "its cohort is not recorded or no longer exists"
    if not run_cache.has_truth(cohort):
        return None, f"its cohort {state.cohort_label(cohort)} has no ground truth"
    try:
        return run_cache.evaluation(run, cohort, run_cache.recorded_threshold(run)), None
    except Exception as error:  # noqa: BLE001 - shown as text in the table / an error box
        return None, str(error)


def _single_run(run: Path) -> None:
    cohort = _cohort_of(run)
    if cohort is None:
        st.info(
            f"**{gw.md(run.name)}** does not record a cohort that still exists, so it cannot be scored against "
            "ground truth. Its training curves are below."
        )
        return
    if not run_cache.has_truth(cohort):
        st.info(
            f"The cohort of this run, **{gw.md(state.cohort_label(cohort))}**, has no ground truth (no truth/ folder): real data "
            "never does. MCC, R² and SHD need the true latents, so they are available only for synthetic "
            "cohorts (Cohort page → Synthetic preset). The training curves below still apply."
        )
        return
    threshold = run_cache.recorded_threshold(run)
    try:
        result = run_cache.evaluation(run, cohort, threshold)
        match = run_cache.truth_match(run, cohort)
        labels = run_cache.display_names(run, cohort)
    except Exception as error:  # noqa: BLE001
        gw.show_error(error, f"Scoring {run.name} against the truth of {state.cohort_label(cohort)}")
        return
    graph = result.get("graph") or {}
    cross = graph.get("cross") or {}
    shown = cache.labels(cohort)  # modalities as cohort.toml labels them
    st.markdown(f"**In short:** {gw.md(verdict(result, shown))}")
    cols = st.columns(5)
    cols[0].metric(
        "MCC",
        f"{result['mcc_within_modality']:.3f}",
        help="Mean |correlation| between each true latent and its matched learned latent (matched within "
        "modalities; 1 = every latent recovered up to scale).",
    )
    cols[1].metric(
        "R²",
        f"{result['r2']:.3f}",
        help="How much of each true latent a regressor recovers from all learned "
        "latents on held-out subjects (1 = everything).",
    )
    cols[2].metric(
        "SHD",
        result.get("shd", "—"),
        help="Structural Hamming distance to the true graph: missing + extra + reversed links (0 = identical).",
    )
    cols[3].metric(
        "Cross-modal SHD", cross.get("total", "—"), help="The same, counting only links across modalities."
    )
    cols[4].metric(
        EDGE_F1,
        f"{graph['adjacency_f1']:.2f}" if "adjacency_f1" in graph else "—",
        help="F1 score of the links, whichever way they point (precision and recall combined; 1 = perfect), "
        "as on the Latent graph page. Directions are scored separately in the details below: inside a group "
        "of equivalent graphs the data cannot tell them.",
    )
    st.caption(
        f"{result['subjects']:,} subjects of {gw.md(state.cohort_label(cohort))}; links kept at the run's threshold "
        f"{threshold:g} (explore others on the Latent graph page). Global MCC without the modality "
        f"constraint: {result['mcc']:.3f}; Spearman MCC: {result['mcc_spearman']:.3f}."
    )

    learned = [labels.get(n, n) for n in match.learned_names]
    true_labels = run_cache.true_names(cohort)
    truth = [true_labels.get(n, n) for n in match.true_names]
    figure = correlation_heatmap(truth, learned, match.corr, match.matching)
    st.plotly_chart(figure, key=f"mcc-matrix:{run}")
    st.caption(
        "Numbers show the matched pairs (outlined), the ones the MCC averages; hover any cell for its value."
    )
    # Two rows rather than three narrow columns: at 150 % zoom three tables side by side cut their numbers off.
    left, right = st.columns([1, 1.3])
    with left:
        st.markdown("**MCC per modality**")
        per = pd.DataFrame(
            {
                "Modality": [shown.modality(m) for m in result["mcc_per_modality"]],
                "MCC": [float(v) for v in result["mcc_per_modality"].values()],
            }
        )
        st.dataframe(
            per,
            hide_index=True,
            width="stretch",
            # Plain numbers: a progress bar beside them cut the numbers off in a narrow column (150 % zoom).
            column_config={"MCC": st.column_config.NumberColumn("MCC", format="%.3f")},
        )
    with right:
        if graph:
            _links_table(graph, cross)
    st.markdown("**Each true latent and its learned match**")
    st.dataframe(
        _per_true_latent(result, match, true_labels, labels, shown),
        hide_index=True,
        width="stretch",
        column_config={
            "|r|": st.column_config.NumberColumn(
                "|r|",
                format="%.2f",
                help="Absolute correlation with the learned latent it is matched to (the MCC averages these).",
            ),
            "R²": st.column_config.NumberColumn(
                "R²",
                format="%.2f",
                help="Share of the true latent a regressor recovers from all learned latents, on held-out "
                "subjects: a high R² with a low |r| means it is there, but mixed over several learned latents.",
            ),
        },
    )


def _per_true_latent(
    result: dict, match, true_labels: dict[str, str], labels: dict[str, str], shown
) -> pd.DataFrame:
    """One row per true latent: its modality, the learned latent matched to it, their |r| and the held-out R²."""
    column = {name: j for j, name in enumerate(match.learned_names)}
    row = {name: i for i, name in enumerate(match.true_names)}
    r2 = result.get("r2_per_latent") or {}
    rows = []
    for true, learned in (result.get("matching") or {}).items():
        i, j = row.get(true), column.get(learned)
        rows.append(
            {
                "True latent": true_labels.get(true, true),
                "Modality": shown.modality(split_latent_name(true)[0]),
                "Learned match": labels.get(learned, learned),
                "|r|": float(match.corr[i, j]) if i is not None and j is not None else None,
                "R²": r2.get(true),
            }
        )
    return pd.DataFrame(rows, columns=["True latent", "Modality", "Learned match", "|r|", "R²"])


def _links_table(graph: dict, cross: dict) -> None:
    st.markdown("**Links against the true graph**")
    st.dataframe(
        pd.DataFrame(
            [
                ("Extra", graph["additions"], cross.get("additions")),
                ("Missing", graph["deletions"], cross.get("deletions")),
                ("Reversed", graph["reversals"], cross.get("reversals")),
                (
                    "Precision",
                    _round(graph["orientation_precision"]),
                    _round(cross.get("orientation_precision")),
                ),
                ("Recall", _round(graph["orientation_recall"]), _round(cross.get("orientation_recall"))),
                ("F1, any direction", _round(graph["adjacency_f1"]), _round(cross.get("adjacency_f1"))),
            ],
            columns=["Links", "All", "Cross-modal"],
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption("Precision and recall count directed links: a reversed link counts against both.")


def _round(value):
    return round(value, 2) if isinstance(value, float) else value


def _cohort_labels(folders: list[Path | None]) -> dict[Path, str]:
    """Each cohort's name, with its folder added where two cohorts share a name (presets written twice do)."""
    names = {folder: state.cohort_label(folder) for folder in folders if folder is not None}
    shared = {name for name, count in Counter(names.values()).items() if count > 1}
    return {folder: f"{name} ({folder.name})" if name in shared else name for folder, name in names.items()}


def _compare(runs: list[Path]) -> None:
    folders = {run: _cohort_of(run) for run in runs}
    cohorts = _cohort_labels(list(folders.values()))
    logs = {run: run_cache.metrics_log(run) for run in runs}
    rows = []
    for run in runs:
        log = logs[run]
        scores, why = _scores(run)
        rows.append(
            {
                "Run": state.run_label(run),
                "Cohort": cohorts.get(folders[run], "—"),
                "State": run_cache.status(run).get("state", "—"),
                "Logged steps": len(log),
                "Final validation loss": run_cache.last_value(log, *VALIDATION_COLUMNS),
                "MCC": scores["mcc_within_modality"] if scores else None,
                "R²": scores["r2"] if scores else None,
                "SHD": scores.get("shd") if scores else None,
                EDGE_F1: (scores.get("graph") or {}).get("adjacency_f1") if scores else None,
                "Note": "" if scores else f"not scored: {why}",
            }
        )
    table = pd.DataFrame(rows)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "Final validation loss": st.column_config.NumberColumn(format="%.4g"),
            "MCC": st.column_config.NumberColumn(format="%.3f"),
            "R²": st.column_config.NumberColumn(format="%.3f"),
            EDGE_F1: st.column_config.NumberColumn(format="%.2f"),
        },
    )
    log_y = st.toggle(
        "Log scale", key="compare_log", help="Useful once the loss has fallen by orders of magnitude."
    )
    if len(cohorts) > 1:
        st.caption(
            f"These runs trained on {len(cohorts)} different cohorts "
            f"({gw.md(', '.join(cohorts.values()))}): their losses are on different scales, so "
            "compare their shapes rather than their heights."
        )
    named = [(state.run_label(run), logs[run]) for run in runs]
    st.plotly_chart(compare_curves(named, log_y=log_y), key="curves:compared")
    with st.expander("Every loss term, run by run"):
        for run, (label, log) in zip(runs, named, strict=True):
            figure = loss_curves(log, log_y=log_y, height=380)
            figure.update_layout(title={"text": plain(label)})
            st.plotly_chart(figure, key=f"curves:{run}")


run = gw.run_picker("evaluate-run")
if run is None:
    gw.no_runs("evaluation")
    st.stop()

try:
    _single_run(run)
except Exception as error:  # noqa: BLE001
    gw.show_error(error, f"Evaluating {run.name}")

st.subheader("Compare runs")
all_runs = [str(p) for p in state.available_runs()]
default = [str(run)] + [p for p in all_runs if p != str(run)][:1]
picked = st.multiselect(
    "Runs to compare",
    all_runs,
    default=[p for p in default if p in all_runs],
    format_func=lambda p: state.run_label(Path(p)),
    key="evaluate-compare",
    help="Each run is scored against its own cohort's ground truth, when it has one.",
)
if picked:
    try:
        _compare([Path(p) for p in picked])
    except Exception as error:  # noqa: BLE001
        gw.show_error(error, "Comparing runs")
else:
    st.caption("Pick one or more runs to see their scores and training curves side by side.")
