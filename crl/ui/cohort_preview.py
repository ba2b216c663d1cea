"""A first look at a cohort: summary numbers, who has which modality, and a few subjects of each modality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from crl.data import Cohort, ValidationReport
from crl.data.labels import Labels
from crl.data.loaders import plural
from crl.ui import cache
from crl.ui.markdown import escape_markdown
from crl.ui.user_errors import user_errors

SAMPLE_TIMESERIES = 5
SAMPLE_IMAGES = 12
HEAD_ROWS = 8
_DRAW = "cohort_preview_draw"  # bumped by "Other subjects": a new seeded sample
KIND_NAMES = {"tabular": "table", "timeseries": "time series", "image": "images"}


@st.cache_data(show_spinner=False, max_entries=16)
def _overlap(path: str, stamp: float) -> tuple[list[str], dict[tuple[str, ...], int]]:
    from crl.data.overlap import overlap_counts, source_subject_ids

    ids = source_subject_ids(Path(path))
    return list(ids), overlap_counts(ids)


@st.cache_data(show_spinner=False, max_entries=32)
def _table(path: str, stamp: float, modality: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from crl.data.summary import source_table_preview

    return source_table_preview(Path(path), modality, rows=HEAD_ROWS)


def _sample(n: int, k: int, draw: int) -> np.ndarray:
    """`k` of `n` row indices, sorted; draw 0 is the first rows (stable screenshots), later draws are seeded."""
    if draw == 0 or n <= k:
        return np.arange(min(n, k))
    return np.sort(np.random.default_rng(draw).choice(n, size=k, replace=False))


def draw_metrics(report: ValidationReport, cohort: Cohort | None) -> None:
    cols = st.columns(4)
    cols[0].metric(
        "Subjects used", f"{report.n_subjects:,}", help="present in every modality, with usable values"
    )
    cols[1].metric("Modalities", report.n_modalities)
    cols[2].metric(
        "Subjects left out",
        f"{len(report.excluded):,}",
        help="present in some modalities but not all, or dropped for missing values; see 'Who has what'",
    )
    covariates = cohort.covariates.shape[1] if cohort is not None and cohort.covariates is not None else 0
    cols[3].metric("Clinical covariates", covariates, help="observed variables shown beside the latent graph")


def _shape_text(kind: str, shape: tuple[int, ...]) -> str:
    """What one subject's observation is, in words: `4 channels × 144 time points`, `64 × 64 pixels, colour`."""
    if kind == "tabular" and len(shape) == 1:
        return plural(shape[0], "value")
    if kind == "timeseries" and len(shape) == 2:
        return f"{plural(shape[0], 'channel')} × {shape[1]:,} time points"
    if kind == "image" and len(shape) == 3:
        return f"{shape[0]} × {shape[1]} pixels, {'colour' if shape[2] == 3 else 'grey'}"
    return " × ".join(map(str, shape))


def _modalities_table(cohort: Cohort, shown: Labels) -> pd.DataFrame:
    rows = []
    for name, m in cohort.modalities.items():
        features = shown.features_of(name, m.feature_names) if m.kind != "image" else m.feature_names
        names = ", ".join(features[:6]) + (
            f" … ({len(m.feature_names)} in all)" if len(m.feature_names) > 6 else ""
        )
        rows.append(
            {
                "modality": shown.modality(name),
                "name in files": name,
                "kind": KIND_NAMES.get(m.kind, m.kind),
                "each subject has": _shape_text(m.kind, m.shape),
                "columns / channels": names,
                "latents": m.latents,
            }
        )
    return pd.DataFrame(rows)


def _draw_overlap(folder: Path, report: ValidationReport) -> None:
    from crl.viz.previews import overlap_figure

    order, counts = _overlap(str(folder), cache.folder_stamp(folder))
    shown = cache.labels(folder)  # the chart names modalities as cohort.toml labels them
    order = [shown.modality(m) for m in order]
    counts = {tuple(shown.modality(m) for m in combination): n for combination, n in counts.items()}
    if not counts:
        st.info("No source could be read yet, so there is no one to count.", icon=":material/group_off:")
        return
    everything = tuple(order)
    complete = counts.get(everything, 0)
    partial = sum(counts.values()) - complete
    if partial == 0:
        # One combination only: a chart of a single bar says less than a sentence.
        st.markdown(f"All {complete:,} subjects have data in every modality.")
    else:
        if len(order) > 1:
            st.plotly_chart(overlap_figure(counts, modalities=order), key="cohort_overlap")
        st.caption(overlap_caption(complete, partial))
    if report.excluded:
        with st.expander(f"Subjects left out ({len(report.excluded):,}) and why"):
            left_out = pd.DataFrame(sorted(report.excluded.items()), columns=["subject", "why"])
            st.dataframe(left_out.head(2_000), hide_index=True, width="stretch")


def overlap_caption(complete: int, partial: int) -> str:
    """Who is complete, and what training does with the others (train.missing_modalities, default "infer")."""
    return (
        f"{plural(complete, 'subject')} {'has' if complete == 1 else 'have'} every modality (blue). "
        f"{plural(partial, 'subject')} {'lacks' if partial == 1 else 'lack'} at least one (grey): training still "
        f"uses {'it' if partial == 1 else 'them'}, with the latents of the modalities "
        f"{'it lacks' if partial == 1 else 'they lack'} inferred from the others, so "
        f"{complete + partial:,} are trained on; the counts above leave them out, as the setting "
        '"Subjects missing a modality: leave them out" (train.missing_modalities = "drop") does.'
    )


def _draw_tabular(folder: Path, name: str) -> None:
    head, summary = _table(str(folder), cache.folder_stamp(folder), name)
    shown = cache.labels(folder)
    if shown.features.get(name):  # the file's own column names stay; their labels and units join them
        summary = summary.copy()
        summary.insert(1, "label", [shown.feature(name, c) for c in summary["column"]])
    st.markdown(f"First {len(head)} rows of the source file")
    st.dataframe(head, hide_index=True, width="stretch")
    st.markdown("Per-column summary over every row of the file")
    st.dataframe(
        summary,
        hide_index=True,
        width="stretch",
        column_config={
            "mean": st.column_config.NumberColumn(format="%.4g"),
            "sd": st.column_config.NumberColumn(format="%.4g"),
            "min": st.column_config.NumberColumn(format="%.4g"),
            "max": st.column_config.NumberColumn(format="%.4g"),
        },
    )


@st.cache_data(show_spinner=False, max_entries=32)
def _preview_figure(path: str, stamp: float, name: str, draw: int):
    """The preview plot of one modality (images cost ~0.3 s to encode: built once per cohort and sample)."""
    from crl.data.labels import labels_of
    from crl.viz.previews import image_grid, timeseries_preview

    cohort = cache.cohort(Path(path))
    shown = labels_of(Path(path))  # `stamp` changes with cohort.toml too
    m = cohort.modalities[name]
    title = shown.modality(name)
    if m.kind == "timeseries":
        rows = _sample(len(cohort), SAMPLE_TIMESERIES, draw)
        axis = shown.time_axis(name, m.data.shape[2])
        return timeseries_preview(
            m.data[rows],
            shown.features_of(name, m.feature_names),
            cohort.subject_ids[rows].tolist(),
            time=axis.values,
            time_title=axis.title,
            title=f"{title}: {len(rows)} of {len(cohort):,} subjects",
        )
    rows = _sample(len(cohort), SAMPLE_IMAGES, draw)
    return image_grid(
        m.data[rows],
        cohort.subject_ids[rows].tolist(),
        columns=6,
        title=f"{title}: {len(rows)} of {len(cohort):,} subjects",
    )


def _draw_covariates(cohort: Cohort, shown: Labels) -> None:
    from crl.data.summary import covariate_summary

    if cohort.covariates is None:
        st.info(
            "This cohort has no clinical covariates. To show age, sex, … beside the learned graph, add a table "
            'with one row per subject and name it in cohort.toml: [covariates] path = "clinical.csv".',
            icon=":material/info:",
        )
        return
    frame = cohort.covariates
    summary = covariate_summary(frame)
    if shown.covariates:  # the table's own column names stay; their labels and units join them
        summary.insert(1, "label", [shown.covariate(c) for c in summary["covariate"]])
    st.markdown(f"{plural(frame.shape[1], 'covariate')} for the {len(frame):,} subjects used")
    st.dataframe(
        summary,
        hide_index=True,
        width="stretch",
        column_config={
            "mean": st.column_config.NumberColumn(format="%.4g"),
            "sd": st.column_config.NumberColumn(format="%.4g"),
        },
    )
    with st.expander("First rows"):
        st.dataframe(frame.head(HEAD_ROWS), width="stretch")


def draw_previews(folder: Path, report: ValidationReport) -> None:
    """Summary metrics, then tabs: who has what, one per modality, covariates. Broken cohorts get the overlap only."""
    cohort = None
    if report.ok:
        with user_errors():
            cohort = cache.cohort(folder)
    if cohort is None:
        st.subheader("Who has which modality")
        with user_errors():
            _draw_overlap(folder, report)
        st.info(
            "Previews of each modality appear here once the errors above are fixed.",
            icon=":material/visibility_off:",
        )
        return
    draw_metrics(report, cohort)
    names = list(cohort.modalities)
    shown = cache.labels(folder)
    labels = [
        "Who has what",
        *(
            f"{escape_markdown(shown.modality(n))} · {KIND_NAMES.get(cohort.modalities[n].kind)}"
            for n in names
        ),
        "Covariates",
    ]
    tabs = st.tabs(labels)
    draw = st.session_state.get(_DRAW, 0)
    with tabs[0], user_errors():
        st.dataframe(_modalities_table(cohort, shown), hide_index=True, width="stretch")
        _draw_overlap(folder, report)
    for tab, name in zip(tabs[1:-1], names, strict=True):
        with tab, user_errors():
            kind = cohort.modalities[name].kind
            if kind == "tabular":
                _draw_tabular(folder, name)
                continue
            if st.button("Show other subjects", key=f"cohort_resample_{name}", icon=":material/shuffle:"):
                st.session_state[_DRAW] = draw = draw + 1
            figure = _preview_figure(str(folder), cache.folder_stamp(folder), name, draw)
            prefix = "cohort_timeseries" if kind == "timeseries" else "cohort_images"
            st.plotly_chart(figure, key=f"{prefix}_{name}")
    with tabs[-1], user_errors():
        _draw_covariates(cohort, shown)
