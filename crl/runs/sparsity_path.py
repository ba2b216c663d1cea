"""Sparsity paths: refit one trained model at a series of sparsity weights, each warm-started from the last.

Each fitted level is saved as `path/<k>/graph.csv`, `path/<k>/latents.csv`, `path/<k>/metrics.jsonl` and
`path/<k>/summary.json` in the run folder, and listed in `path/index.json` as
`{"levels": [{"k", "sparsity", "folder", ...}]}` (weakest sparsity first), so the dashboard can move between
levels without training. The index is rewritten atomically after every level: a reader sees finished
levels only.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crl.errors import ConfigError
from crl.runs.files import (
    LATENTS_FILE,
    METRICS_FILE,
    MODEL_FILE,
    atomic_torch_save,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    read_json,
)
from crl.runs.graph_file import write_graph

PATH_DIR = "path"
INDEX_FILE = "index.json"
SUMMARY_FILE = "summary.json"
# Each level also keeps its state_dict as MODEL_FILE (tensors only), to warm-start the next level on resume.
# A warm-started refit needs far fewer epochs than training from scratch: the encoders are already fitted.
PATH_EPOCH_FRACTION = 0.25
MIN_PATH_EPOCHS = 5


def default_path_epochs(config: Any) -> int:
    """Epochs per level: a quarter of the main training's, at least a few."""
    return max(MIN_PATH_EPOCHS, int(config.train.epochs * PATH_EPOCH_FRACTION))


def path_config(config: Any, weight: float, epochs: int) -> Any:
    """The configuration for one level: sparsity `weight`, penalties at full strength from the first step (the
    graph is already formed, so no warm-up), `epochs` epochs and a short learning-rate warm-up. The encoders
    learn at graph.networks_lr_after_schedule (0 by default), so the levels share their latents and differ
    in their graph only."""
    if weight < 0:
        raise ConfigError(f"sparsity weights must be >= 0 (got {weight})")
    loss = dataclasses.replace(config.loss, sparsity=float(weight), graph_warmup=0.0, acyclicity_warmup=0.0)
    # Exactly `epochs` epochs: no minimum step count (it exists for the graph schedule of a fresh fit).
    exact = {"min_steps": 0} if "min_steps" in {f.name for f in dataclasses.fields(config.train)} else {}
    train = dataclasses.replace(
        config.train,
        epochs=int(epochs),
        min_epochs=min(config.train.min_epochs, int(epochs)),
        warmup_steps=min(config.train.warmup_steps, 20),
        **exact,
    )
    return dataclasses.replace(config, loss=loss, train=train)


def read_index(run_dir: Path) -> list[dict[str, Any]]:
    """The fitted levels recorded in `path/index.json`, weakest sparsity first ([] when there is no path)."""
    index = read_json(Path(run_dir) / PATH_DIR / INDEX_FILE, {}) or {}
    levels = index.get("levels", []) if isinstance(index, dict) else []
    return sorted(
        (lv for lv in levels if isinstance(lv, dict)), key=lambda lv: float(lv.get("sparsity", 0.0))
    )


def _next_k(run_dir: Path) -> int:
    taken = {int(lv["k"]) for lv in read_index(run_dir) if str(lv.get("k", "")).isdigit()}
    root = Path(run_dir) / PATH_DIR
    if root.is_dir():
        taken |= {int(p.name) for p in root.iterdir() if p.name.isdigit()}
    return max(taken, default=-1) + 1


def record_level(run_dir: Path, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Add (or replace, for the same sparsity weight) one level in the index; returns the new index."""
    levels = [lv for lv in read_index(run_dir) if float(lv.get("sparsity", -1)) != float(entry["sparsity"])]
    levels.append(entry)
    levels.sort(key=lambda lv: float(lv["sparsity"]))
    root = Path(run_dir) / PATH_DIR
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / INDEX_FILE, {"levels": levels})
    return levels


def _save_weights(model: Any, path: Path) -> None:
    atomic_torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def _load_weights(path: Path) -> dict[str, Any]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def save_level(
    run_dir: Path,
    weight: float,
    model: Any,
    cohort: Any,
    result: Any,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one fitted level's files and add it to the index; returns its index entry."""
    from crl.engine.fit import latent_table
    from crl.engine.orientation import orient

    k = _next_k(run_dir)
    folder = Path(run_dir) / PATH_DIR / str(k)
    folder.mkdir(parents=True, exist_ok=True)
    latents = latent_table(model, cohort, orient(model, cohort, result.normaliser)[0])
    write_graph(folder, model.latent_names, model.strengths())
    _save_weights(model, folder / MODEL_FILE)
    atomic_write_csv(folder / LATENTS_FILE, latents)
    lines = []
    for row in result.history:
        flat = {"step": row["step"], "epoch": row["epoch"], "validation_loss": row["validation_loss"]}
        flat.update({k2: v for k2, v in row.get("train", {}).items()})
        flat.update({f"validation_{k2}": v for k2, v in row.get("validation", {}).items()})
        lines.append(flat)
    atomic_write_text(folder / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in lines))
    last = result.history[-1] if result.history else {}
    summary = {
        "k": k,
        "sparsity": float(weight),
        "folder": str(k),
        "epochs": result.epochs_run,
        "best_validation_loss": result.best_validation_loss,
        "validation": last.get("validation", {}),
        "train": last.get("train", {}),
        "edges_over_half": int((model.strengths() >= 0.5).sum()),
        "fitted": time.time(),
        **(extra or {}),
    }
    atomic_write_json(folder / SUMMARY_FILE, summary)
    entry = {
        key: summary[key]
        for key in ("k", "sparsity", "folder", "epochs", "best_validation_loss", "edges_over_half")
    }
    entry.update(extra or {})
    record_level(run_dir, entry)
    return entry


def fit_path(
    model: Any,
    cohort: Any,
    config: Any,
    weights: Sequence[float],
    run_dir: Path,
    epochs: int | None = None,
    callbacks: Sequence[Any] = (),
    warm_from: str = "",
    skip_fitted: bool = False,
) -> list[dict[str, Any]]:
    """Refit `model` (already trained) at each weight in increasing order, each level starting from the
    previous level's weights; every level is saved as it finishes. A callback asking to stop ends the path
    after saving the level in progress; the returned entries are the levels saved. With `skip_fitted`, levels
    already in the index are not fitted again (a resumed job), their saved weights continue the chain."""
    from crl.engine.fit import fit

    epochs = epochs or default_path_epochs(config)
    entries = []
    previous = warm_from
    fitted = {float(lv["sparsity"]): lv for lv in read_index(run_dir)} if skip_fitted else {}
    for weight in sorted(float(w) for w in weights):
        done = fitted.get(weight)
        weights_file = (
            Path(run_dir) / PATH_DIR / str(done.get("folder", done.get("k"))) / MODEL_FILE if done else None
        )
        if weights_file is not None and weights_file.exists():
            # Fitted before an interruption: continue the chain from its weights instead of fitting it again.
            model.load_state_dict(_load_weights(weights_file))
            previous = f"path/{done['folder']}"
            continue
        level_config = path_config(config, weight, epochs)
        result = fit(model, cohort, level_config, callbacks=callbacks)
        entry = save_level(run_dir, weight, model, cohort, result, {"warm_start": previous})
        entries.append(entry)
        previous = f"path/{entry['k']}"
        if result.stopped_by_callback:
            break
    return entries
