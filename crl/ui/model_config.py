"""The session's model configuration: kept per cohort, edited through keyed widgets, read back as a Config.

The Config lives under one session key that survives page changes (Streamlit forgets the state of widgets
that a page run did not draw). Widgets are seeded from it when they are missing, and every Model page run
writes the widgets' values back, so the Train page always trains the settings last shown on the Model page.
It is also saved per cohort in the cache folder, so a reload (a new session) finds the edits again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import streamlit as st

from crl.config import KIND_ENCODERS, Config, check_schema, default_config
from crl.data.cache import cache_root
from crl.errors import ConfigError
from crl.graphs.names import latent_names, split_latent_name
from crl.runs.files import atomic_write_json
from crl.runs.run import Run
from crl.ui import demo
from crl.ui.config_file import read_config_file

CONFIG_KEY = "model_config"
PREFIX = "model_cfg."
ARROW = " → "

# The settings the Model page draws as widgets, by dotted path and in the page's order; every other setting
# keeps the stored configuration's value. Labels, ranges and help come from the declarations (crl.config).
MODALITY_FIELDS = ("encoder", "depth", "width", "latents", "eta")  # under modalities.<name>.
LOSS_FIELDS = ("loss.sparsity", "loss.likelihood", "loss.reconstruction")
TRAIN_FIELDS = ("train.epochs", "train.batch_size", "train.lr", "train.seed", "train.device")
CHOICE_FIELDS = ("method", "prior.flow", "train.schedule", "train.mixed_precision")  # advanced, first row
ADVANCED_FIELDS = (
    "loss.acyclicity",
    "loss.graph_warmup",
    "prior.realign",
    "prior.unmix",
    "train.validation_fraction",
    "train.patience",
    "train.min_epochs",
    "train.min_steps",
    "train.restarts",
)
# Advanced, below the numbers: what training does with subjects lacking a modality (issue 24).
SUBJECT_FIELDS = ("train.missing_modalities",)
# Widgets that show a setting's value as it is (the graph's and the modalities' need translating).
PLAIN_FIELDS = LOSS_FIELDS + TRAIN_FIELDS + CHOICE_FIELDS + ADVANCED_FIELDS + SUBJECT_FIELDS


def key(path: str) -> str:
    """The widget key of a dotted configuration path, e.g. "train.lr" or "modalities.sleep.encoder"."""
    return PREFIX + path


def edge_label(source: str, target: str) -> str:
    return f"{source}{ARROW}{target}"


def parse_edge(label: str) -> tuple[str, str]:
    source, _, target = label.partition(ARROW)
    return source, target


def edge_options(latents: list[str]) -> list[str]:
    """Every ordered pair of distinct latents as a label, cross-modal pairs first (they are what is learnt)."""
    modality = {name: split_latent_name(name)[0] for name in latents}
    pairs = [(a, b) for a in latents for b in latents if a != b]
    pairs.sort(key=lambda p: modality[p[0]] == modality[p[1]])
    return [edge_label(a, b) for a, b in pairs]


def _widget_values(config: Config) -> dict[str, Any]:
    """Widget key -> the value that widget shows for `config`."""
    values: dict[str, Any] = {}
    for name, m in config.modalities.items():
        for field in MODALITY_FIELDS:
            values[key(f"modalities.{name}.{field}")] = getattr(m, field)
    g = config.graph
    values[key("graph.acyclicity")] = g.acyclicity
    values[key("graph.tiers")] = list(g.tiers) if g.tiers else list(config.modalities)
    values[key("graph.required")] = [edge_label(a, b) for a, b in g.required]
    values[key("graph.forbidden")] = [edge_label(a, b) for a, b in g.forbidden]
    for path in PLAIN_FIELDS:
        section, _, field = path.rpartition(".")
        values[key(path)] = getattr(getattr(config, section) if section else config, field)
    return values


def load_into_widgets(config: Config) -> None:
    """Show `config` in every widget (call before the widgets are drawn: at the top of a page or in a callback)."""
    for name, value in _widget_values(config).items():
        st.session_state[name] = value


def seed_widgets(config: Config) -> None:
    """Give widgets that Streamlit forgot (another page was open, a hidden field) their stored value."""
    for name, value in _widget_values(config).items():
        if name not in st.session_state:
            st.session_state[name] = value


def _same_modalities(config: Config, schema: dict[str, dict[str, Any]]) -> bool:
    try:
        check_schema(config, schema)
    except ConfigError:
        return False
    return True


def run_settings(run: Path, schema: dict[str, dict[str, Any]]) -> Config:
    """The settings a trained run was trained with, for a cohort of `schema`. Raises ConfigError (modalities that
    do not fit, a damaged file) or OSError (no config.json)."""
    file = Run(run).config_file
    return read_config_file(file.name, file.read_bytes(), schema)


def cohort_defaults(cohort_dir: Path, schema: dict[str, dict[str, Any]]) -> Config:
    """The settings a cohort starts from: the engine's defaults, except that the built-in demo cohort starts from
    the settings of the model shipped with it. Otherwise the Model page would show (and Train would train) other
    networks than the demo's, with convolutional encoders that take hours per model on a CPU."""
    defaults = default_config(schema)
    shipped = demo.demo_run_dir()
    if shipped is not None and Path(cohort_dir).resolve() == demo.SHIPPED.resolve():
        try:
            config = run_settings(shipped, schema)
        except (ConfigError, OSError):
            return defaults  # an unreadable shipped run: the engine's defaults still train
        # The machine it was built on is not this one: CUDA when present, as everywhere else.
        machine = {"device": defaults.train.device, "mixed_precision": defaults.train.mixed_precision}
        return dataclasses.replace(config, train=dataclasses.replace(config.train, **machine))
    return defaults


def current(cohort_dir: Path, schema: dict[str, dict[str, Any]]) -> Config:
    """The configuration to train `cohort_dir` with: the one edited on the Model page, else the cohort's defaults.

    A stored configuration is kept when the cohort changes but keeps its modality names and kinds (e.g. the
    same preset regenerated with more subjects).
    """
    stored = st.session_state.get(CONFIG_KEY)
    if not isinstance(stored, dict):
        stored = _saved(cohort_dir)  # a new session (a reload): the edits saved for this cohort
    if isinstance(stored, dict):
        try:
            config = Config.from_dict(stored["config"])
        except (ConfigError, KeyError, TypeError):
            config = None
        if config is not None and _same_modalities(config, schema):
            return config
    return cohort_defaults(cohort_dir, schema)


def adopt(cohort_dir: Path, schema: dict[str, dict[str, Any]]) -> Config:
    """current(), and when the session held no settings for these modalities, the cohort's defaults go into the
    store and into every widget (so no value typed for another cohort lingers in a widget)."""
    config = current(cohort_dir, schema)
    stored = st.session_state.get(CONFIG_KEY)
    if not (isinstance(stored, dict) and stored.get("config") == config.to_dict()):
        store(config, cohort_dir)
        load_into_widgets(config)
    return config


def is_edited(cohort_dir: Path, schema: dict[str, dict[str, Any]]) -> bool:
    """Whether the session holds settings other than the cohort's defaults."""
    return current(cohort_dir, schema).to_dict() != cohort_defaults(cohort_dir, schema).to_dict()


def _saved_file(cohort_dir: Path) -> Path:
    digest = hashlib.sha256(str(Path(cohort_dir).resolve()).encode()).hexdigest()[:16]
    return cache_root() / "model-settings" / f"{digest}.json"


def _saved(cohort_dir: Path) -> dict | None:
    """The settings last stored for this cohort in any session, or None (none yet, or an unreadable file)."""
    try:
        saved = json.loads(_saved_file(cohort_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) and saved.get("cohort") == str(cohort_dir) else None


def store(config: Config, cohort_dir: Path) -> None:
    stored = {"cohort": str(cohort_dir), "config": config.to_dict()}
    if st.session_state.get(CONFIG_KEY) == stored:
        return
    st.session_state[CONFIG_KEY] = stored
    try:
        _saved_file(cohort_dir).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(_saved_file(cohort_dir), stored)
    except OSError:
        pass  # a read-only cache: the edits still last for this session


def reset(cohort_dir: Path, schema: dict[str, dict[str, Any]]) -> Config:
    """Back to the cohort's defaults, in the store and in every widget."""
    config = cohort_defaults(cohort_dir, schema)
    store(config, cohort_dir)
    load_into_widgets(config)
    return config


def widget_latents(config: Config) -> list[str]:
    """Latent names as the latent-count widgets currently set them (the edge lists offer these)."""
    counts = {}
    for name, m in config.modalities.items():
        value = st.session_state.get(key(f"modalities.{name}.latents"), m.latents)
        counts[name] = int(value) if isinstance(value, (int, float)) and value >= 1 else m.latents
    return latent_names(counts)


def prune_edges(latents: list[str]) -> list[str]:
    """Drop chosen edges whose latents no longer exist (a latent count went down); returns what was dropped.

    Call before drawing the edge lists: a multiselect refuses a value that is not among its options.
    """
    valid = set(edge_options(latents))
    dropped = []
    for field in ("required", "forbidden"):
        chosen = st.session_state.get(key(f"graph.{field}"), [])
        kept = [label for label in chosen if label in valid]
        dropped += [label for label in chosen if label not in valid]
        if len(kept) != len(chosen):
            st.session_state[key(f"graph.{field}")] = kept
    return dropped


def from_widgets(base: Config) -> Config:
    """The configuration the widgets show, on top of `base` for fields without a widget; ConfigError if invalid."""
    data = base.to_dict()
    state = st.session_state

    def read(path: str, fallback: Any) -> Any:
        return state.get(key(path), fallback)

    for name, spec in data["modalities"].items():
        for field in MODALITY_FIELDS:
            spec[field] = read(f"modalities.{name}.{field}", spec[field])
        allowed = KIND_ENCODERS.get(spec["kind"], ())
        if spec["encoder"] not in allowed and allowed:
            spec["encoder"] = allowed[0]
    graph = data["graph"]
    graph["acyclicity"] = read("graph.acyclicity", graph["acyclicity"])
    tiers = list(read("graph.tiers", graph["tiers"]) or [])
    graph["tiers"] = tiers if graph["acyclicity"] == "tiers" else []
    for field in ("required", "forbidden"):
        labels = read(f"graph.{field}", None)
        if labels is not None:
            graph[field] = [list(parse_edge(label)) for label in labels]
    for path in PLAIN_FIELDS:
        section, _, field = path.rpartition(".")
        values = data[section] if section else data
        values[field] = read(path, values[field])
    return Config.from_dict(data)
