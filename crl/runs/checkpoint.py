"""Checkpoints without pickled objects: tensors via torch.save(weights_only-loadable) plus JSON metadata.

Files in a run folder:
- model.pt: the model's state_dict (tensors only), loaded with `torch.load(weights_only=True)`;
- model.json: format version, configuration, cohort schema and fingerprint, normaliser, latent names;
- training_state.pt: optimiser, scheduler, generators, epoch and best weights, to resume training.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from crl.config import Config
from crl.data.cohort import Cohort, Normaliser
from crl.errors import ConfigError, RunError
from crl.runs.files import (
    MODEL_FILE,
    MODEL_META_FILE,
    STATUS_FILE,
    TRAINING_STATE_FILE,
    atomic_torch_save,
    atomic_write_json,
    now_iso,
    package_versions,
)

META_FILE = MODEL_META_FILE
STATE_FILE = TRAINING_STATE_FILE
FORMAT_VERSION = 1


def _load_tensors(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - corrupt or foreign file: tell the user which
        raise RunError(f"cannot read {path}: {error}. The file is damaged or not a crl checkpoint") from error


def save_model(run_dir: Path | str, model, config: Config, normaliser: Normaliser, cohort: Cohort) -> None:
    """Write model.pt (weights) and model.json (everything needed to rebuild the model and encode a cohort)."""
    run_dir = Path(run_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_torch_save(state, run_dir / MODEL_FILE)
    atomic_write_json(
        run_dir / META_FILE,
        {
            "format_version": FORMAT_VERSION,
            "config": config.to_dict(),
            "schema": model.schema,
            "latent_names": list(model.latent_names),
            "normaliser": normaliser.to_dict(),
            "cohort_fingerprint": cohort.fingerprint(),
            "versions": package_versions(),
            "saved": now_iso(),
        },
    )


def read_metadata(run_dir: Path | str) -> dict[str, Any]:
    """model.json of a finished run, or RunError saying why it is missing or unusable."""
    run_dir = Path(run_dir)
    path = run_dir / META_FILE
    if not run_dir.is_dir():
        raise RunError(f"run folder {run_dir} does not exist")
    if not path.exists():
        status_path = run_dir / STATUS_FILE
        state = json.loads(status_path.read_text()).get("state") if status_path.exists() else "unknown"
        raise RunError(
            f"run folder {run_dir} has no trained model ({META_FILE} is missing; run state: {state}). "
            "Wait for training to finish or train again"
        )
    meta = json.loads(path.read_text(encoding="utf-8"))
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise RunError(
            f"run folder {run_dir} was written in checkpoint format {version}; this crl reads format "
            f"{FORMAT_VERSION}. Retrain with this version"
        )
    return meta


def with_saved_graph_layout(config: Config, state: dict[str, Any]) -> Config:
    """Runs saved before orders were sampled (crl.core.latent_graph) hold one orientation per pair: rebuild them so."""
    if "graph.orientation" in state and config.graph.orientation != "pairwise":
        return dataclasses.replace(config, graph=dataclasses.replace(config.graph, orientation="pairwise"))
    return config


def with_saved_unmixing(config: Config, state: dict[str, Any]) -> Config:
    """Runs saved before block unmixing (crl.core.unmix) have no unmixing matrices: rebuild them without it,
    as they were trained (a restart or refit of such a run then trains as it did)."""
    if config.prior.unmix and not any(k.startswith("unmixing.") for k in state):
        return dataclasses.replace(config, prior=dataclasses.replace(config.prior, unmix=0))
    return config


def load_run(run_dir: Path | str, device: str | torch.device = "cpu"):
    """(model, config, normaliser) of a finished run, the model in evaluation mode on `device`."""
    from crl.core.model import CRLModel

    run_dir = Path(run_dir)
    meta = read_metadata(run_dir)
    try:
        config = Config.from_dict(meta["config"])
    except ConfigError as error:
        raise RunError(f"run folder {run_dir} holds a configuration this crl cannot read: {error}") from error
    weights_path = run_dir / MODEL_FILE
    if not weights_path.exists():
        raise RunError(f"run folder {run_dir} has {META_FILE} but no {MODEL_FILE}; train again")
    state = _load_tensors(weights_path)
    config = with_saved_unmixing(with_saved_graph_layout(config, state), state)
    model = CRLModel(config, meta["schema"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise RunError(
            f"the weights in {weights_path} do not fit the saved configuration: {error}"
        ) from error
    model.to(device)
    model.eval()
    return model, config, Normaliser.from_dict(meta["normaliser"])


load_model = load_run  # the name other modules use for the same thing


def check_compatible(schema: dict[str, dict[str, Any]], cohort: Cohort) -> None:
    """RunError listing every difference between a run's schema and a cohort's (names, kinds, shapes, features)."""
    theirs = cohort.schema()
    problems = []
    for name, spec in schema.items():
        if name not in theirs:
            problems.append(f"modality '{name}' is missing from the cohort")
            continue
        other = theirs[name]
        if other["kind"] != spec["kind"]:
            problems.append(
                f"modality '{name}' is {other['kind']} in the cohort but {spec['kind']} in the run"
            )
        if list(other["shape"]) != list(spec["shape"]):
            problems.append(
                f"modality '{name}' has shape {other['shape']} in the cohort but {spec['shape']} in the run"
            )
        if list(other["features"]) != list(spec["features"]):
            problems.append(f"modality '{name}' has different features/channels from the run's")
    for name in theirs:
        if name not in schema:
            problems.append(f"the cohort has modality '{name}', which the run was not trained on")
    if problems:
        raise RunError(
            "this cohort does not fit the trained model:\n" + "\n".join(f"- {p}" for p in problems)
        )


def encode_with_run(run_dir: Path | str, cohort: Cohort, device: str = "cpu"):
    """latents.csv-style DataFrame for any cohort with the run's schema (the run's normaliser is reused)."""
    from crl.engine.fit import encode_cohort, latent_table

    model, _, normaliser = load_run(run_dir, device=device)
    check_compatible(model.schema, cohort)
    return latent_table(model, cohort, encode_cohort(model, cohort, normaliser))


def training_state_path(run_dir: Path | str) -> Path:
    """Where a run keeps its resumable training state."""
    return Path(run_dir) / STATE_FILE


def save_training_state(run_dir: Path | str, state: dict[str, Any]) -> None:
    """training_state.pt: what fit(resume=...) needs (tensors and plain containers only)."""
    atomic_torch_save(state, training_state_path(run_dir))


def load_training_state(path: Path | str) -> dict[str, Any] | None:
    """The saved training state (from a run folder or the state file itself), or None when there is none yet."""
    path = Path(path)
    if path.is_dir():
        path = training_state_path(path)
    if not path.exists():
        return None
    return _load_tensors(path)
