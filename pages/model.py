"""Model page: networks per modality, loss weights, graph constraints and training settings; save, load, check."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from crl.config import KIND_ENCODERS, Config
from crl.errors import ConfigError, CrlError
from crl.runs.run import Run
from crl.ui import cache, routing, state
from crl.ui import model_config as mc
from crl.ui import setting_widgets as widgets
from crl.ui.config_file import config_to_json, config_to_toml, read_config_file
from crl.ui.markdown import escape_markdown
from crl.ui.user_errors import show_error

routing.enter_through_app(__file__)

UPLOAD_KEY = "model_config_upload"
UPLOAD_MESSAGE = "model_config_upload_message"
DRY_RUN_KEY = "model_dry_run_result"

PAPER_WEIGHTS = {
    "numerical": {"reconstruction": 1.0, "likelihood": 0.1, "sparsity": 0.01},
    "image": {"reconstruction": 2.0, "likelihood": 0.01, "sparsity": 0.001},
}


st.title("Model")


def _shape_text(kind: str, shape: list[int]) -> str:
    if kind == "tabular":
        return f"table, {shape[0]} features"
    if kind == "timeseries":
        return f"time series, {shape[0]} channels × {shape[1]} steps"
    if kind == "image":
        channels = shape[2] if len(shape) > 2 else 1
        return f"image, {shape[0]} × {shape[1]} px, {channels} channel{'s' if channels != 1 else ''}"
    return kind


def _device_options(current: str) -> list[str]:
    from crl.engine.device import device_choices  # torch loads when the widget is drawn, not with the page

    options = device_choices()
    if current not in options:
        options.append(current)  # a loaded file may name a GPU this machine lacks: the check says so
    return options


def _apply_upload(folder, schema) -> None:
    """Upload callback: a valid file replaces every setting; a bad one leaves them as they were."""
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is None:
        return
    try:
        config = read_config_file(upload.name, upload.getvalue(), schema)
    except ConfigError as error:
        st.session_state[UPLOAD_MESSAGE] = ("error", str(error))
        return
    mc.store(config, folder)
    mc.load_into_widgets(config)
    st.session_state.pop(DRY_RUN_KEY, None)
    st.session_state[UPLOAD_MESSAGE] = ("success", f"Loaded the settings from {upload.name}.")


def _apply_run_settings(run, folder, schema) -> None:
    """Button callback: the current trained model's settings replace every setting, when its modalities fit."""
    try:
        config = mc.run_settings(run, schema)
    except (ConfigError, OSError) as error:
        st.session_state[UPLOAD_MESSAGE] = ("error", f"{state.run_label(run)}: {error}")
        return
    mc.store(config, folder)
    mc.load_into_widgets(config)
    st.session_state.pop(DRY_RUN_KEY, None)
    st.session_state[UPLOAD_MESSAGE] = ("success", f"Loaded the settings of {state.run_label(run)}.")


def _reset(folder, schema) -> None:
    mc.reset(folder, schema)
    st.session_state.pop(DRY_RUN_KEY, None)
    st.session_state[UPLOAD_MESSAGE] = ("success", "Back to the defaults for this cohort.")


def _paper_weights(which: str) -> None:
    for field, value in PAPER_WEIGHTS[which].items():
        st.session_state[mc.key(f"loss.{field}")] = value


def _draw_files(config: Config, folder, schema, cohort_name: str) -> None:
    """One row: save (a popover with two formats), load (a popover with the uploader), reset; the outcome below."""
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in cohort_name) or "cohort"
    cols = st.columns(3)  # three, so the labels fit at 150 % zoom on a 1280-pixel screen
    with cols[0].popover("Save settings", icon=":material/download:", width="stretch") as save:
        save.download_button(
            "As TOML (for crl train --config)",
            config_to_toml(config, cohort_name),
            file_name=f"{stem}-model.toml",
            mime="application/toml",
            icon=":material/download:",
            key="model_save_toml",
            width="stretch",
            help="Reload it here later, or train from a terminal: crl train COHORT --out RUN --config FILE",
        )
        save.download_button(
            "As JSON",
            config_to_json(config),
            file_name=f"{stem}-model.json",
            mime="application/json",
            icon=":material/download:",
            key="model_save_json",
            width="stretch",
        )
    with cols[1].popover("Load settings", icon=":material/upload_file:", width="stretch"):
        run = state.run_dir()
        if run is not None and Run(run).config_file.is_file():
            st.button(
                f"Use the settings of {state.run_label(run)}",
                key="model_from_run",
                icon=":material/history:",
                on_click=_apply_run_settings,
                args=(run, folder, schema),
                help="Start from the trained model's settings, e.g. to re-fit it with another sparsity weight.",
            )
        st.file_uploader(
            "A .toml or .json file saved here, or a trained run's config.json",
            type=["toml", "json"],
            key=UPLOAD_KEY,
            on_change=_apply_upload,
            args=(folder, schema),
            help="Settings the file leaves out keep their defaults for this cohort.",
        )
    cols[2].button(
        "Reset to defaults",
        key="model_reset",
        icon=":material/restart_alt:",
        on_click=_reset,
        args=(folder, schema),
        width="stretch",
        help="The defaults for this cohort: encoders chosen by data kind, the paper's loss weights.",
    )
    message = st.session_state.pop(UPLOAD_MESSAGE, None)
    if message and message[0] == "error":
        show_error(ConfigError(message[1]))
    elif message:
        st.success(escape_markdown(message[1]), icon=":material/check_circle:")


def _draw_modalities(config: Config, schema, shown) -> None:
    st.subheader("Networks per modality")
    st.caption(
        "Each modality gets an encoder (data → latents) and a matching decoder. **Latents** are the causal "
        "variables the graph connects; **η** dimensions hold what only this modality shows (style, noise)."
    )
    for name, spec in schema.items():
        kind = spec["kind"]
        with st.container(border=True):
            label = shown.modality(name)
            # The label a reader knows, and the name settings files and --set use when it differs.
            key = f" · `{name}`" if label != name else ""
            st.markdown(
                f"**{escape_markdown(label)}**{key} · {escape_markdown(_shape_text(kind, spec['shape']))}"
            )
            cols = st.columns([2.2, 1, 1, 1, 1])
            families = KIND_ENCODERS[kind]
            paths = [f"modalities.{name}.{field}" for field in mc.MODALITY_FIELDS]
            widgets.select(cols[0], paths[0], families, disabled=len(families) == 1)
            widgets.numbers(cols[1:], paths[1:])


def _draw_loss() -> None:
    st.subheader("Loss weights")
    st.caption(
        "Loss = reconstruction × its weight + independence × its weight + sparsity × its weight. Sparsity is "
        "the main knob: higher keeps fewer links between modalities."
    )
    widgets.numbers(st.columns(3), mc.LOSS_FIELDS)
    left, right = st.columns(2)  # halves: the labels stay whole at 150 % zoom
    left.button(
        "Paper weights: numbers, tables",
        key="model_paper_numerical",
        on_click=_paper_weights,
        args=("numerical",),
        help="α_R = 1, α_I = 0.1, α_S = 0.01 (the paper's numerical and phenotype settings).",
        width="stretch",
    )
    right.button(
        "Paper weights: images",
        key="model_paper_image",
        on_click=_paper_weights,
        args=("image",),
        help="α_R = 2, α_I = 0.01, α_S = 0.001 (the paper's image setting).",
        width="stretch",
    )


def _draw_graph(config: Config, latents: list[str], problem: ConfigError | None) -> None:
    st.subheader("Causal graph")
    modalities = list(config.modalities)
    left, right = st.columns(2, gap="large")
    with left:
        if widgets.radio(st, "graph.acyclicity") == "tiers":
            widgets.multiselect(st, "graph.tiers", modalities)
    options = mc.edge_options(latents)
    with right:
        widgets.multiselect(st, "graph.required", options, placeholder="none: every link is learnt")
        widgets.multiselect(st, "graph.forbidden", options, placeholder="none")
    if problem is not None and str(problem).startswith(("graph.", "edges ")):
        show_error(problem)


def _draw_training(config: Config) -> None:
    st.subheader("Training")
    cols = st.columns(5)
    *numeric, device = mc.TRAIN_FIELDS
    widgets.numbers(cols, numeric)
    widgets.select(cols[4], device, _device_options(config.train.device))
    with st.expander("Advanced settings"):
        for column, path in zip(st.columns([3, 2, 2, 2]), mc.CHOICE_FIELDS, strict=True):
            widgets.select(column, path)
        for start in range(0, len(mc.ADVANCED_FIELDS), 3):
            widgets.numbers(st.columns(3), mc.ADVANCED_FIELDS[start : start + 3])
        for column, path in zip(st.columns(2), mc.SUBJECT_FIELDS, strict=False):
            widgets.select(column, path)


def _term_table(report, config: Config) -> pd.DataFrame:
    """Main terms with their weighted share of the total; each modality's reconstruction under its own row."""
    names = {
        "reconstruction": "Reconstruction error",
        "likelihood": "Independence (prior KL)",
        "sparsity": "Sparsity (cross-modal L1)",
        "acyclicity": "Acyclicity penalty",
    }
    total = report.terms["total"]

    def row(label: str, value: float, weighted: float) -> dict:
        return {
            "Term": label,
            "Value": value,
            "Weighted": weighted,
            "Share of total": weighted / total if total else 0,
        }

    rows = []
    for term, label in names.items():
        rows.append(row(label, report.terms[term], report.weighted[term]))
        if term == "reconstruction":
            for name in config.modalities:
                value = report.terms[f"reconstruction.{name}"]
                rows.append(row(f"· {name}", value, config.loss.reconstruction * value))
    rows.append(row("Total", total, total))
    return pd.DataFrame(rows)


def _draw_dry_run(config: Config, cohort) -> None:
    st.subheader("Check before training")
    st.caption(
        "Builds the model and runs one training step on a few subjects, here and now, on the CPU. "
        "It catches settings that do not fit the data before a long job starts."
    )
    fingerprint = json.dumps(config.to_dict(), sort_keys=True)
    if st.button("Check these settings", key="model_dry_run", icon=":material/play_circle:", type="primary"):
        from crl.analysis.dry_run import dry_run

        try:
            with st.spinner("Building the model and running one batch…"):
                report = dry_run(config, cohort)
        except CrlError as error:
            st.session_state[DRY_RUN_KEY] = (fingerprint, error)
        else:
            st.session_state[DRY_RUN_KEY] = (fingerprint, report)
    result = st.session_state.get(DRY_RUN_KEY)
    if result is None:
        return
    checked, outcome = result
    if checked != fingerprint:
        st.caption("The settings changed since the last check: check them again.")
    if isinstance(outcome, CrlError):
        show_error(outcome)
        return
    st.success(
        f"One batch of {outcome.subjects} subjects ran without errors: {outcome.total_parameters:,} weights; "
        f"a training step on them took {1000 * outcome.step_seconds:.0f} ms on the CPU. Training would run on "
        f"{escape_markdown(outcome.device)}.",
        icon=":material/check_circle:",
    )
    for warning in outcome.warnings:
        st.warning(escape_markdown(warning), icon=":material/warning:")
    st.dataframe(
        _term_table(outcome, config),
        hide_index=True,
        column_config={
            "Value": st.column_config.NumberColumn(format="%.4g"),
            "Weighted": st.column_config.NumberColumn(format="%.4g", help="Value × its loss weight"),
            "Share of total": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
        },
        key="model_dry_run_terms",
    )
    st.caption(
        "At the start, reconstruction usually dominates; the weighted shares show which term the optimiser "
        "listens to. Sparsity and acyclicity start only after the graph warm-up."
    )


folder = state.cohort_dir()
try:
    cohort = cache.cohort(folder)
except CrlError as error:
    st.caption("How the model is built and trained.")
    show_error(error)
    st.page_link(
        "pages/cohort.py", label="Fix or choose the cohort on the Cohort page", icon=":material/table_view:"
    )
    st.stop()

schema = cohort.schema()
stored = mc.adopt(folder, schema)
mc.seed_widgets(stored)
# Widgets already hold this run's values, so the configuration (and the saved file) is read before drawing.
dropped = mc.prune_edges(mc.widget_latents(stored))
problem: ConfigError | None = None
try:
    config = mc.from_widgets(stored)
except ConfigError as error:
    problem, config = error, stored
else:
    mc.store(config, folder)

st.caption(
    f"How the model for **{escape_markdown(state.cohort_label(folder))}** is built and trained. The Train page "
    "trains these settings; save them as a file to reuse them."
)
_draw_files(config, folder, schema, state.cohort_label(folder))
_draw_modalities(config, schema, cache.labels(folder))
_draw_loss()
_draw_graph(config, mc.widget_latents(stored), problem)
if dropped:
    st.info(
        "Links that named a latent which no longer exists were removed: "
        + escape_markdown(", ".join(dropped)),
        icon=":material/info:",
    )
_draw_training(config)
if problem is not None:
    if not str(problem).startswith(("graph.", "edges ")):
        show_error(problem)
    st.caption("The Train page keeps using the last valid settings until this is fixed.")
_draw_dry_run(config, cohort)
st.page_link("pages/train.py", label="Train with these settings", icon=":material/model_training:")
