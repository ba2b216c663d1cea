"""Upload files and say what each one is (modality, kind, ID and time columns, latents), then create a cohort."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from crl.data.cache import cache_root
from crl.data.manifest import DEFAULT_LATENTS
from crl.data.upload import (
    MAX_LATENTS,
    MB,
    CovariatesChoice,
    SourceChoice,
    Upload,
    UploadError,
    UploadSummary,
    build_cohort,
    folder_name,
    inspect_upload,
    suggested_modality,
)
from crl.ui import state
from crl.ui.markdown import escape_markdown
from crl.ui.user_errors import show_error

KIND_LABELS = {"tabular": "Table", "timeseries": "Time series", "image": "Images"}
KIND_HELP = (
    "Table: one row per subject, one column per measurement. Time series: several rows per subject "
    "(one per time point), one column per channel. Images: one picture per subject."
)
KINDS_FOR_FORMAT = {"table": ("tabular", "timeseries"), "npz": ("timeseries", "image"), "zip": ("image",)}
FORMAT_TEXT = {"table": "table", "npz": "NumPy arrays", "zip": "zip of images"}
FILE_TYPES = ["csv", "parquet", "npz", "zip"]
NAN_LABELS = {
    "error": "Report as a problem",
    "drop": "Leave those subjects out",
    "impute": "Fill in the column median",
}
LENGTH_LABELS = {
    "error": "Report as a problem",
    "pad": "Repeat the last value",
    "crop": "Cut all to the shortest",
    "resample": "Stretch to the usual length",
}


@st.cache_data(show_spinner="Reading the file…", max_entries=64)
def _inspect(file_id: str, filename: str, _file) -> tuple[UploadSummary | None, str | None]:
    """Cached per uploaded file id: its bytes are neither copied nor hashed on every rerun."""
    try:
        return inspect_upload(Upload(filename, _file.getvalue())), None
    except UploadError as error:
        return None, str(error)


def _size(n_bytes: int) -> str:
    return f"{n_bytes / MB:.1f} MB" if n_bytes >= MB / 10 else f"{max(1, round(n_bytes / 1024))} kB"


def _describe(summary: UploadSummary) -> str:
    if summary.format == "table":
        long = ", IDs repeat (a long table)" if summary.repeated_ids else ""
        rows = f"{summary.rows_read:,}+" if summary.rows_read >= 5_000 else f"{summary.rows_read:,}"
        return f"table, {len(summary.columns)} columns, {rows} rows{long}"
    if summary.format == "npz":
        return f"arrays {', '.join(summary.columns)}"
    return f"{summary.n_images:,} images"


def _file_card(file) -> Callable[[], SourceChoice] | None:
    """One uploaded file's card; returns what the user chose (built on demand, as it copies the bytes), or None
    when the file cannot be used."""
    with st.container(border=True):
        summary, problem = _inspect(file.file_id, file.name, file)
        heading = f"**{escape_markdown(file.name)}** · {_size(file.size)}"
        if summary is not None:
            heading += f" · {escape_markdown(_describe(summary))}"
        st.markdown(heading)
        if summary is None:
            show_error(UploadError(problem or "the file cannot be read."))
            return None
        for note in summary.notes:
            st.caption(escape_markdown(note))
        key = f"upload_{file.file_id}"
        kinds = KINDS_FOR_FORMAT[summary.format]
        cols = st.columns([2, 2, 2, 2, 1])
        modality = cols[0].text_input(
            "Modality name", value=suggested_modality(file.name), key=f"{key}_name", max_chars=40
        )
        kind = cols[1].selectbox(
            "Kind",
            kinds,
            index=kinds.index(summary.kind) if summary.kind in kinds else 0,
            format_func=KIND_LABELS.get,
            key=f"{key}_kind",
            help=KIND_HELP,
        )
        id_column = time_column = None
        if summary.format == "table":
            columns = list(summary.columns)
            id_column = cols[2].selectbox(
                "Subject-ID column",
                columns,
                index=columns.index(summary.id_column) if summary.id_column in columns else None,
                placeholder="choose a column",
                key=f"{key}_id",
            )
            if id_column is None:
                st.warning(
                    "No column looks like a subject ID: choose the one that holds them above.",
                    icon=":material/badge:",
                )
            if kind == "timeseries":
                times = [c for c in columns if c != id_column]
                time_column = cols[3].selectbox(
                    "Time column",
                    times,
                    index=times.index(summary.time_column) if summary.time_column in times else None,
                    placeholder="choose a column",
                    key=f"{key}_time",
                )
        else:
            where = "the 'ids' array" if summary.format == "npz" else "the image file names"
            cols[2].caption(f"Subject IDs come from {where}.")
        latents = cols[4].number_input(
            "Latents",
            min_value=1,
            max_value=MAX_LATENTS,
            value=DEFAULT_LATENTS,
            step=1,
            key=f"{key}_latents",
            help="How many hidden causal variables this modality should be summarised by.",
        )
        nan_policy = length_policy = "error"
        if kind != "image":
            policies = st.columns(3)
            nan_policy = policies[0].selectbox(
                "Missing values",
                list(NAN_LABELS),
                format_func=NAN_LABELS.get,
                key=f"{key}_nan",
                help="Empty cells, NaN or infinite values. Leaving subjects out is safest; filling in keeps "
                "everyone but hides that the value was unknown.",
            )
            if kind == "timeseries":
                length_policy = policies[1].selectbox(
                    "Series of unequal length",
                    list(LENGTH_LABELS),
                    format_func=LENGTH_LABELS.get,
                    key=f"{key}_length",
                    help="When subjects were recorded for different numbers of time points.",
                )
    return lambda: SourceChoice(
        Upload(file.name, file.getvalue()),
        modality,
        kind,
        id_column,
        time_column,
        int(latents),
        nan_policy,
        length_policy,
    )


def _covariates_card(file) -> Callable[[], CovariatesChoice] | None:
    with st.container(border=True):
        summary, problem = _inspect(file.file_id, file.name, file)
        st.markdown(f"**{escape_markdown(file.name)}** · {_size(file.size)} · clinical covariates")
        if summary is not None and summary.format != "table":
            problem = f"{file.name}: the covariates must be a .csv or .parquet table."
        if summary is None or problem:
            show_error(UploadError(problem or "the file cannot be read."))
            return None
        columns = list(summary.columns)
        id_column = st.selectbox(
            "Subject-ID column of the covariates",
            columns,
            index=columns.index(summary.id_column) if summary.id_column in columns else None,
            placeholder="choose a column",
            key=f"upload_{file.file_id}_covariates_id",
        )
    return lambda: CovariatesChoice(Upload(file.name, file.getvalue()), id_column)


def draw_upload_form() -> None:
    """File pickers, one card per file, the cohort name and the Create button (which selects the new cohort)."""
    files = st.file_uploader(
        "Data files: one per modality (.csv, .parquet, .npz, or a .zip of images)",
        type=FILE_TYPES,
        accept_multiple_files=True,
        key="upload_files",
        help="Tables: one row per subject, or a long table (ID, time, channels) for time series. Images: "
        "a zip of <subject_id>.png files. Up to 200 MB per file.",
    )
    covariates_file = st.file_uploader(
        "Clinical covariates (optional): age, sex, … one row per subject",
        type=["csv", "parquet"],
        key="upload_covariates",
    )
    if not files:
        st.info(
            "Upload one file per modality. Nothing is sent anywhere: the files stay on the computer running "
            "this dashboard.",
            icon=":material/upload_file:",
        )
        return
    choices = [_file_card(file) for file in files]
    covariates = _covariates_card(covariates_file) if covariates_file is not None else None
    usable = all(c is not None for c in choices) and (covariates_file is None or covariates is not None)

    col_name, col_go = st.columns([4, 1], vertical_alignment="bottom")
    name = col_name.text_input("Cohort name", value="my-cohort", max_chars=60, key="upload_cohort_name")
    create = col_go.button(
        "Create cohort", type="primary", disabled=not usable, key="upload_create", width="stretch"
    )
    try:
        folder = cache_root() / "uploads" / folder_name(name)
    except UploadError as error:
        show_error(error)
        return
    st.caption(f"Saved in {escape_markdown(folder)} (an earlier cohort of the same name is replaced).")
    if not usable:
        st.caption("Remove or replace the files marked in red to create the cohort.")
    if create:
        with st.spinner("Writing the cohort folder…"):
            built = build_cohort(
                name,
                [choice() for choice in choices if choice is not None],
                folder,
                covariates=covariates() if covariates is not None else None,
            )
        state.select_cohort(built, f"Cohort '{name.strip()}' created from {len(files)} files.")


def draw_fix_hint(folder, report) -> None:
    """For an uploaded cohort, point at the form's choices instead of at cohort.toml, which the user never saw."""
    uploads = (cache_root() / "uploads").resolve()
    if not Path(folder).resolve().is_relative_to(uploads):
        return
    checks = {p.check for p in report.errors}
    fixable = [
        text
        for check, text in (
            ("non_finite", "'Missing values'"),
            ("unequal_length", "'Series of unequal length'"),
        )
        if check in checks
    ]
    if fixable:
        st.info(
            f"This cohort was uploaded: instead of editing cohort.toml, choose {' and '.join(fixable)} in the "
            "file's card under 'Upload files' above, then click Create cohort again.",
            icon=":material/lightbulb:",
        )
