"""Cached trained models and their encoded cohorts: loaded once per checkpoint path + modification time, on CPU.

The model is shared between reruns and sessions and only ever used under no_grad in evaluation mode. Torch
runs on one thread in the app process, so decoding never starves the server (or a training job) of cores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from crl.errors import CrlError, RunError
from crl.runs.files import JOB_FILE, MODEL_FILE, MODEL_META_FILE
from crl.runs.folder import recorded_cohort_path
from crl.runs.run import Run

MODEL_FILES = (MODEL_FILE, MODEL_META_FILE)


@dataclass(frozen=True)
class EncodedCohort:
    """A cohort seen through a trained model: posterior means per subject (read-only, shared)."""

    subject_ids: tuple[str, ...]
    z: np.ndarray  # (n_subjects, n_latent)
    eta: np.ndarray  # (n_subjects, n_eta)
    cohort: Path
    cohort_name: str


def checkpoint_stamp(run: Path) -> tuple[float, ...]:
    """Modification times of model.pt and model.json (0 when missing), the cache key of a loaded model."""
    out = []
    for name in MODEL_FILES:
        try:
            out.append((Path(run) / name).stat().st_mtime)
        except OSError:
            out.append(0.0)
    return tuple(out)


def has_model(run: Path) -> bool:
    return all((Path(run) / name).is_file() for name in MODEL_FILES)


def _key(run: Path, cohort: Path) -> tuple[str, tuple[float, ...], str, float]:
    """(path, stamp, cohort, cohort_stamp): the cached functions' key, so edited files are never served stale."""
    from crl.ui import cache

    run = Path(run)
    return str(run), checkpoint_stamp(run), str(cohort), cache.folder_stamp(Path(cohort))


def _traversal_key(latent: int, values: np.ndarray, threshold: float | None) -> tuple:
    values = tuple(float(v) for v in np.asarray(values).ravel())
    return int(latent), values, None if threshold is None else float(threshold)


def _intervention_key(latent: int, value: float, threshold: float) -> tuple[int, float, float]:
    return int(latent), float(value), float(threshold)


@st.cache_resource(show_spinner="Loading the trained model…", max_entries=4)
def _load(path: str, stamp: tuple[float, ...]):
    import torch

    from crl.runs.checkpoint import load_run

    torch.set_num_threads(1)
    return load_run(Path(path), device="cpu")


def model(run: Path):
    """(model, config, normaliser) of a finished run on CPU, in evaluation mode. Raises RunError when unusable."""
    run = Path(run)
    try:
        return _load(str(run), checkpoint_stamp(run))
    except CrlError:
        raise
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise RunError(
            f"the trained model in {run} could not be read ({type(error).__name__}: {error}); "
            "retrain the run or pick another one"
        ) from None


@st.cache_data(show_spinner="Reading each link's effect from the model…", max_entries=16)
def _link_effects(path: str, stamp: tuple[float, ...], latents_stamp: float, threshold: float) -> np.ndarray:
    from crl.analysis.effects import link_effects
    from crl.ui import run_cache

    loaded = model(Path(path))[0]
    z = run_cache.latents(Path(path)).loc[:, list(loaded.latent_names)].to_numpy(np.float32)
    return link_effects(loaded, z, threshold)


def link_effects(run: Path, threshold: float) -> np.ndarray:
    """`(d, d)` signed direct effects of the links the run keeps at `threshold` (NaN elsewhere), in SD per SD of
    the cause (crl.analysis.effects), from the run's own latents.csv; cached per model, latents and threshold."""
    from crl.ui.run_cache import stamp

    run = Path(run)
    return _link_effects(str(run), checkpoint_stamp(run), stamp(Run(run).latents_file), float(threshold))


def trained_cohort(run: Path) -> Path | None:
    """The cohort folder the run was trained on (config.json or job.json), when it still exists."""
    for file in (Run(run).config_file, Path(run) / JOB_FILE):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        path = recorded_cohort_path(run, data) if isinstance(data, dict) else None
        if path is not None and (path / "cohort.toml").is_file():
            return path
    return None


@st.cache_resource(
    show_spinner="Encoding every subject with the trained model (once per model)…", max_entries=4
)
def _encoded(path: str, stamp: tuple[float, ...], cohort: str, cohort_stamp: float) -> EncodedCohort:
    from crl.analysis.traversal import cohort_posterior
    from crl.ui import cache

    net, _, normaliser = _load(path, stamp)
    stored = _stored(Path(path), net, Path(cohort))
    if stored is not None:
        return stored
    loaded = cache.cohort(Path(cohort))
    z, eta = cohort_posterior(net, loaded, normaliser)
    z.setflags(write=False)
    eta.setflags(write=False)
    return EncodedCohort(tuple(str(s) for s in loaded.subject_ids), z, eta, Path(cohort), loaded.name)


def _stored(run: Path, net, cohort: Path) -> EncodedCohort | None:
    """The posterior means the run stored when training ended (latents.csv, eta.csv), when `cohort` is the one
    it was trained on: the same numbers as encoding every subject again, without the seconds that takes."""
    import pandas as pd

    from crl.ui.run_cache import recorded_cohort
    from crl.ui.state import cohort_label

    found = Run(run)
    trained = recorded_cohort(run)  # as run_cache's stored drivers: the cohort config.json records
    if not (found.has_latents and found.eta_file.is_file()) or trained is None:
        return None
    if trained.resolve() != Path(cohort).resolve():
        return None
    eta_columns = [f"{name}.eta{k}" for name in net.names for k in range(net.eta_sizes[name])]
    try:
        z = found.latents().loc[:, list(net.latent_names)]
        eta = pd.read_csv(found.eta_file, dtype={"subject_id": str}).set_index("subject_id")
        eta = eta.loc[z.index, eta_columns]
    except (CrlError, KeyError, ValueError, OSError, pd.errors.ParserError):
        return None  # a damaged or older file: encode instead
    z_values, eta_values = z.to_numpy(np.float32), eta.to_numpy(np.float32)
    z_values.setflags(write=False)
    eta_values.setflags(write=False)
    return EncodedCohort(
        tuple(str(s) for s in z.index), z_values, eta_values, Path(cohort), cohort_label(cohort)
    )


def encoded(run: Path, cohort: Path) -> EncodedCohort:
    """Posterior means of every subject of `cohort` under the run's model, cached per model and cohort files.

    Raises RunError when the cohort does not fit the model and CohortError when it cannot be loaded.
    """
    model(run)  # a readable error for a damaged checkpoint before any cohort work
    return _encoded(*_key(run, cohort))


def subject_latents(data: EncodedCohort, subject: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(z `(n_latent,)`, eta `(n_eta,)`) of one subject, or of the average subject when `subject` is None."""
    from crl.analysis.traversal import mean_subject

    if subject is None:
        return mean_subject(data.z, data.eta)
    try:
        row = data.subject_ids.index(subject)
    except ValueError:
        raise CrlError(f"subject '{subject}' is not in cohort {data.cohort_name}; pick another one") from None
    return data.z[row], data.eta[row]


def _subject(path: str, stamp: tuple[float, ...], cohort: str, cohort_stamp: float, subject: str | None):
    """(model, normaliser, z, eta) of one subject (None: the average one) under the cached model."""
    net, _, normaliser = _load(path, stamp)
    z, eta = subject_latents(_encoded(path, stamp, cohort, cohort_stamp), subject)
    return net, normaliser, z, eta


def _read_only(decoded: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cached arrays are shared between sessions: an accidental write fails instead of changing them for all."""
    for array in decoded.values():
        array.setflags(write=False)
    return decoded


@st.cache_resource(show_spinner=False, max_entries=32)
def _traversal(
    path: str,
    stamp: tuple[float, ...],
    cohort: str,
    cohort_stamp: float,
    subject: str | None,
    latent: int,
    values: tuple[float, ...],
    threshold: float | None,
) -> dict[str, np.ndarray]:
    from crl.analysis.traversal import traverse

    net, normaliser, z, eta = _subject(path, stamp, cohort, cohort_stamp, subject)
    decoded = traverse(net, normaliser, z, eta, latent, np.asarray(values), threshold=threshold)
    return _read_only(decoded)


def traversal(
    run: Path, cohort: Path, subject: str | None, latent: int, values: np.ndarray, threshold: float | None
) -> dict[str, np.ndarray]:
    """crl.analysis.traversal.traverse for a subject (None: the average one), cached: a slider move that only
    changes the highlighted step costs no decoding. Shared between sessions: do not mutate."""
    return _traversal(*_key(run, cohort), subject, *_traversal_key(latent, values, threshold))


@st.cache_resource(show_spinner=False, max_entries=64)
def _intervention(
    path: str,
    stamp: tuple[float, ...],
    cohort: str,
    cohort_stamp: float,
    subject: str | None,
    latent: int,
    value: float,
    threshold: float,
):
    from crl.analysis.traversal import intervene

    net, normaliser, z, eta = _subject(path, stamp, cohort, cohort_stamp, subject)
    before = _reconstruction(path, stamp, cohort, cohort_stamp, subject)
    return intervene(net, normaliser, z, eta, latent, value, threshold, before=before)


@st.cache_resource(show_spinner=False, max_entries=32)
def _reconstruction(
    path: str, stamp: tuple[float, ...], cohort: str, cohort_stamp: float, subject: str | None
) -> dict[str, np.ndarray]:
    """The subject decoded as it is: the "before" of every intervention on it, decoded once."""
    from crl.analysis.traversal import decode

    net, normaliser, z, eta = _subject(path, stamp, cohort, cohort_stamp, subject)
    decoded = {m: x[0] for m, x in decode(net, normaliser, z[None], eta[None]).items()}
    return _read_only(decoded)


def intervention(run: Path, cohort: Path, subject: str | None, latent: int, value: float, threshold: float):
    """crl.analysis.traversal.intervene for a subject (None: the average one) at a link threshold, cached (a
    slider returning to a value costs nothing). Raises CrlError when the links at the threshold form a cycle."""
    return _intervention(*_key(run, cohort), subject, *_intervention_key(latent, value, threshold))


# ------------------------------------------------------------------------------------------ figures
# Building plotly figures costs more than decoding (about 60-100 ms a modality on these cores), so figures are
# cached by everything they show; st.plotly_chart copies a figure before serialising it, so sharing is safe.


def _figure_inputs(net, normaliser, cohort: str) -> tuple[dict, dict, dict, dict]:
    """kinds, feature names as shown, tabular scales, and the figures' display keywords (titles, time axes),
    from the model's schema and the cohort's cohort.toml labels (an edit of it moves cohort_stamp)."""
    from crl.data.labels import labels_of

    shown = labels_of(Path(cohort))
    kinds = {m: net.schema[m]["kind"] for m in net.names}
    features = {m: shown.features_of(m, net.schema[m]["features"]) for m in net.names}
    # Tabular changes are ranked and shown relative to each feature's spread in the cohort.
    scale = {m: np.asarray(normaliser.scale[m]).ravel() for m in net.names if kinds[m] == "tabular"}
    display = {"titles": {m: shown.modality(m) for m in net.names}, "time_axes": shown.time_axes(net.schema)}
    return kinds, features, scale, display


@st.cache_resource(show_spinner=False, max_entries=128)
def _traversal_figures(
    path: str,
    stamp: tuple[float, ...],
    cohort: str,
    cohort_stamp: float,
    subject: str | None,
    latent: int,
    values: tuple[float, ...],
    threshold: float | None,
    modalities: tuple[str, ...],
    highlight: int | None,
    latent_label: str,
) -> dict:
    from crl.viz.traversal import traversal_figure

    net, _, normaliser = _load(path, stamp)
    decoded = _traversal(path, stamp, cohort, cohort_stamp, subject, latent, values, threshold)
    kinds, features, scale, display = _figure_inputs(net, normaliser, cohort)
    return traversal_figure(
        np.asarray(values),
        {m: decoded[m] for m in modalities},
        kinds,
        features,
        highlight=highlight,
        latent_name=latent_label,
        feature_scale=scale,
        **display,
    )


def traversal_figures(
    run: Path,
    cohort: Path,
    subject: str | None,
    latent: int,
    values: np.ndarray,
    threshold: float | None,
    modalities: list[str],
    highlight: int | None,
    latent_label: str,
) -> dict:
    """crl.viz.traversal.traversal_figure of the cached traversal for `modalities`, cached (do not mutate)."""
    key = _traversal_key(latent, values, threshold)
    return _traversal_figures(*_key(run, cohort), subject, *key, tuple(modalities), highlight, latent_label)


@st.cache_resource(show_spinner=False, max_entries=128)
def _intervention_figures(
    path: str,
    stamp: tuple[float, ...],
    cohort: str,
    cohort_stamp: float,
    subject: str | None,
    latent: int,
    value: float,
    threshold: float,
    modalities: tuple[str, ...],
    label: str,
) -> dict:
    from crl.viz.intervention import intervention_figure

    net, _, normaliser = _load(path, stamp)
    before, after, _ = _intervention(path, stamp, cohort, cohort_stamp, subject, latent, value, threshold)
    kinds, features, scale, display = _figure_inputs(net, normaliser, cohort)
    return intervention_figure(
        {m: before[m] for m in modalities},
        {m: after[m] for m in modalities},
        kinds,
        features,
        label=label,
        feature_scale=scale,
        **display,
    )


def intervention_figures(
    run: Path,
    cohort: Path,
    subject: str | None,
    latent: int,
    value: float,
    threshold: float,
    modalities: list[str],
    label: str,
) -> dict:
    """crl.viz.intervention.intervention_figure of the cached intervention for `modalities`, cached."""
    key = _intervention_key(latent, value, threshold)
    return _intervention_figures(*_key(run, cohort), subject, *key, tuple(modalities), label)
