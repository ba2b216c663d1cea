"""Model page: networks per modality, loss weights, graph constraints and training settings; save, load, check."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from crl.config import (
    ACYCLICITY,
    FLOWS,
    KIND_ENCODERS,
    MAX_REALIGN,
    MAX_RESTARTS,
    METHODS,
    PRECISIONS,
    SCHEDULES,
    Config,
)
from crl.errors import ConfigError, CrlError
from crl.ui import cache, routing, state
from crl.ui import model_config as mc
from crl.ui.config_file import config_to_json, config_to_toml, read_config_file
from crl.ui.markdown import escape_markdown
from crl.ui.user_errors import show_error

routing.enter_through_app(__file__)

UPLOAD_KEY = "model_config_upload"
UPLOAD_MESSAGE = "model_config_upload_message"
DRY_RUN_KEY = "model_dry_run_result"

ENCODER_NAMES = {
    "mlp": "MLP (fully connected)",
    "cnn1d": "1-D CNN (convolutions over time)",
    "gru": "GRU (recurrent)",
    "resnet": "ResNet (residual CNN)",
}
KIND_NAMES = {"tabular": "table", "timeseries": "time series", "image": "image"}
METHOD_NAMES = {
    "ours": "Causal (the paper's method: learned graph + flow prior)",
    "beta-vae": "β-VAE baseline (no graph, independent latents)",
    "no-graph": "No graph (flow prior with every edge closed)",
}
FLOW_NAMES = {"affine": "Gaussian (affine flow)", "spline": "Any shape (spline flow)"}
PRECISION_NAMES = {
    "auto": "auto (full precision)",
    "bf16": "bf16 (mixed)",
    "fp16": "fp16 (mixed)",
    "off": "off (full precision)",
}
FLOW_HELP = (
    "How each hidden variable varies around what its causes predict. Gaussian is the paper's choice and the "
    "fastest. A spline also fits skewed, heavy-tailed or two-peaked variation; each training step takes 1.4 to "
    "2 times as long. On the paper's synthetic cohorts both recover the hidden variables about equally well."
)
ACYCLICITY_NAMES = {
    "learned": "Learned from the data",
    "tiers": "Fixed order of modalities (tiers)",
}
PAPER_WEIGHTS = {
    "numerical": {"reconstruction": 1.0, "likelihood": 0.1, "sparsity": 0.01},
    "image": {"reconstruction": 2.0, "likelihood": 0.01, "sparsity": 0.001},
}


@dataclass(frozen=True)
class NumberField:
    """One numeric setting's widget: its label, bounds, step and help; keyed by its dotted config name."""

    label: str
    min_value: float
    max_value: float
    step: float
    help: str = ""
    format: str | None = None

    def draw(self, column, key: str) -> None:
        column.number_input(
            self.label,
            min_value=self.min_value,
            max_value=self.max_value,
            step=self.step,
            format=self.format,
            key=key,
            help=self.help or None,
        )


MODALITY_FIELDS = {  # per modality, under modalities.<name>.<field>
    "depth": NumberField(
        "Depth",
        min_value=0,
        max_value=12,
        step=1,
        help="Hidden layers (MLP), layers (GRU) or down-sampling stages (CNN, ResNet; 0 = chosen from "
        "the data size).",
    ),
    "width": NumberField(
        "Width",
        min_value=1,
        max_value=2048,
        step=16,
        help="Hidden units (MLP, GRU) or base channels (CNN, ResNet).",
    ),
    "latents": NumberField(
        "Latents",
        min_value=1,
        max_value=32,
        step=1,
        help="Latent causal variables for this modality (the paper uses 2–4).",
    ),
    "eta": NumberField(
        "η dims",
        min_value=0,
        max_value=32,
        step=1,
        help="Modality-specific dimensions: variation that never affects another modality.",
    ),
}

LOSS_FIELDS = {  # the loss weights
    "loss.sparsity": NumberField(
        "Sparsity (α_S)",
        min_value=0.0,
        max_value=100.0,
        step=0.001,
        format="%.4g",
        help="Weight of the L1 penalty on cross-modal edge strengths: higher keeps fewer links between "
        "modalities. With the default phases it shapes the graph only: the latents are settled when the "
        "warm-up ends, before the penalty starts (paper case 2: the same latents at every weight from 0 to 0.1).",
    ),
    "loss.likelihood": NumberField(
        "Independence / likelihood (α_I)",
        min_value=0.0,
        max_value=100.0,
        step=0.01,
        format="%.4g",
        help="Weight of the causal prior's likelihood (the KL to the graph-structured prior): it makes the "
        "noises of the latents independent.",
    ),
    "loss.reconstruction": NumberField(
        "Reconstruction (α_R)",
        min_value=0.0,
        max_value=100.0,
        step=0.1,
        format="%.4g",
        help="Weight of the squared error between each modality and its reconstruction.",
    ),
}

TRAIN_FIELDS = {  # the main training settings
    "train.epochs": NumberField(
        "Epochs",
        min_value=1,
        max_value=100_000,
        step=10,
        help="Passes over the training subjects (early stopping may end sooner).",
    ),
    "train.batch_size": NumberField(
        "Batch size",
        min_value=1,
        max_value=65_536,
        step=16,
        help="Subjects per optimisation step.",
    ),
    "train.lr": NumberField(
        "Learning rate",
        min_value=1e-7,
        max_value=1.0,
        step=1e-4,
        format="%.2e",
        help="Adam's step size (around 1e-3 works for most cohorts).",
    ),
    "train.seed": NumberField(
        "Seed",
        min_value=0,
        max_value=2**31 - 1,
        step=1,
        help="Fixes the initial weights, the train/validation split and the batch order.",
    ),
}

ADVANCED_FIELDS = {  # behind 'Advanced settings'
    "loss.acyclicity": NumberField(
        "Acyclicity weight",
        min_value=0.0,
        max_value=1000.0,
        step=0.1,
        format="%.4g",
        help="Final weight of the penalty that keeps a learned order acyclic.",
    ),
    "loss.graph_warmup": NumberField(
        "Graph warm-up (fraction of training)",
        min_value=0.0,
        max_value=0.9,
        step=0.05,
        help="The encoders learn the hidden variables during this fraction of training; then they "
        "stand still while the links between them are learned, with sparsity and acyclicity.",
    ),
    "prior.realign": NumberField(
        "Block realignments",
        min_value=0,
        max_value=MAX_REALIGN,
        step=1,
        help="How often, during the warm-up, to turn each modality's hidden variables towards what the other "
        "modalities predict of it. This pulls a hidden cause back that training had filed as "
        "modality-specific noise; on the paper's first synthetic case it raised MCC from 0.78 to 0.84. "
        "0 turns it off.",
    ),
    "train.validation_fraction": NumberField(
        "Validation fraction",
        min_value=0.0,
        max_value=0.9,
        step=0.05,
        help="Subjects held out to choose the best epoch and stop early.",
    ),
    "train.patience": NumberField(
        "Patience (epochs)",
        min_value=1,
        max_value=100_000,
        step=5,
        help="Stop after this many epochs without a better validation loss.",
    ),
    "train.min_epochs": NumberField(
        "Minimum epochs",
        min_value=0,
        max_value=100_000,
        step=10,
        help="Early stopping never ends training before this epoch.",
    ),
    "train.restarts": NumberField(
        "Restarts",
        min_value=1,
        max_value=MAX_RESTARTS,
        step=1,
        help="Train this many times from different initial weights (seed, seed + 1, …) and keep the run with "
        "the lowest validation loss. Takes that many times longer; on the paper's synthetic cases, 4 restarts "
        "recovered the hidden variables with MCC 0.89, 0.81 and 0.90 instead of 0.84, 0.78 and 0.86.",
    ),
}

st.title("Model")


def _draw_fields(columns, fields: dict[str, NumberField]) -> None:
    """Each field in its column, in order; the keys are dotted config names ("train.lr")."""
    for column, (name, field) in zip(columns, fields.items(), strict=False):
        field.draw(column, mc.key(name))


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
    """One row: save (two formats), load (a popover with the uploader), reset; the load outcome below it."""
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in cohort_name) or "cohort"
    cols = st.columns(4)
    cols[0].download_button(
        "Save as TOML",
        config_to_toml(config, cohort_name),
        file_name=f"{stem}-model.toml",
        mime="application/toml",
        icon=":material/download:",
        key="model_save_toml",
        width="stretch",
        help="Reload it here later, or train from a terminal: crl train COHORT --out RUN --config FILE",
    )
    cols[1].download_button(
        "Save as JSON",
        config_to_json(config),
        file_name=f"{stem}-model.json",
        mime="application/json",
        icon=":material/download:",
        key="model_save_json",
        width="stretch",
    )
    with cols[2].popover("Load a settings file", icon=":material/upload_file:", width="stretch"):
        run = state.run_dir()
        if run is not None and (run / "config.json").is_file():
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
    cols[3].button(
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


def _draw_modalities(config: Config, schema) -> None:
    st.subheader("Networks per modality")
    st.caption(
        "Each modality gets an encoder (data → latents) and a matching decoder. **Latents** are the causal "
        "variables the graph connects; **η** dimensions hold what only this modality shows (style, noise)."
    )
    for name, spec in schema.items():
        kind = spec["kind"]
        with st.container(border=True):
            st.markdown(f"**{escape_markdown(name)}** · {escape_markdown(_shape_text(kind, spec['shape']))}")
            cols = st.columns([2.2, 1, 1, 1, 1])
            families = list(KIND_ENCODERS[kind])
            cols[0].selectbox(
                "Encoder",
                families,
                key=mc.key(f"modalities.{name}.encoder"),
                format_func=lambda f: ENCODER_NAMES.get(f, f),
                disabled=len(families) == 1,
                help="The network family; the decoder mirrors it.",
            )
            for column, (field, spec) in zip(cols[1:], MODALITY_FIELDS.items(), strict=True):
                spec.draw(column, mc.key(f"modalities.{name}.{field}"))


def _draw_loss() -> None:
    st.subheader("Loss weights")
    st.caption(
        "Loss = reconstruction × its weight + independence × its weight + sparsity × its weight. Sparsity is "
        "the main knob: higher keeps fewer links between modalities."
    )
    cols = st.columns(3)
    _draw_fields(cols, LOSS_FIELDS)
    left, right, _ = st.columns([1, 1, 1.2])
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
        mode = st.radio(
            "Causal order between modalities",
            ACYCLICITY,
            key=mc.key("graph.acyclicity"),
            format_func=lambda m: ACYCLICITY_NAMES.get(m, m),
            help="Learned: any modality may cause any other, and a penalty keeps the graph acyclic. Tiers: you "
            "give the order, and links only go from earlier modalities to later ones (and within a modality).",
        )
        if mode == "tiers":
            st.multiselect(
                "Order, causes first",
                modalities,
                key=mc.key("graph.tiers"),
                help="Pick every modality once, in order: the first can only cause, the last can only be "
                "affected.",
            )
    options = mc.edge_options(latents)
    with right:
        st.multiselect(
            "Required links",
            options,
            key=mc.key("graph.required"),
            placeholder="none: every link is learnt",
            help="Links kept open whatever the data says (source → target).",
        )
        st.multiselect(
            "Forbidden links",
            options,
            key=mc.key("graph.forbidden"),
            placeholder="none",
            help="Links that can never appear, e.g. an effect that cannot precede its cause.",
        )
    if problem is not None and str(problem).startswith(("graph.", "edges ")):
        show_error(problem)


def _draw_training(config: Config) -> None:
    st.subheader("Training")
    cols = st.columns(5)
    _draw_fields(cols, TRAIN_FIELDS)
    cols[4].selectbox(
        "Device",
        _device_options(config.train.device),
        key=mc.key("train.device"),
        help="auto: the GPU when there is one, else the CPU.",
    )
    with st.expander("Advanced settings"):
        a = st.columns([3, 2, 2, 2])
        a[0].selectbox(
            "Method",
            METHODS,
            key=mc.key("method"),
            format_func=lambda m: METHOD_NAMES.get(m, m),
            help="The baselines help judge what the causal prior adds.",
        )
        a[1].selectbox(
            "Noise shape",
            FLOWS,
            key=mc.key("prior.flow"),
            format_func=lambda f: FLOW_NAMES.get(f, f),
            help=FLOW_HELP,
        )
        a[2].selectbox("Learning-rate schedule", SCHEDULES, key=mc.key("train.schedule"))
        a[3].selectbox(
            "Mixed precision (GPU only)",
            PRECISIONS,
            key=mc.key("train.mixed_precision"),
            format_func=lambda p: PRECISION_NAMES.get(p, p),
            help="auto trains in full precision: on an H200, bf16 made these networks' training steps no "
            "faster (0.71–1.01× the speed of full precision). bf16 or fp16 may pay for large image networks.",
        )
        fields = list(ADVANCED_FIELDS.items())
        for start in range(0, len(fields), 3):
            _draw_fields(st.columns(3), dict(fields[start : start + 3]))


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
_draw_modalities(config, schema)
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
