"""A run folder being written by its training process: config.json, status.json, metrics.jsonl, latents.csv,
graph.csv; every write goes through crl.runs.files, so it is atomic. Readers use crl.runs.run.Run."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crl.errors import RunError
from crl.runs.files import (
    CONFIG_FILE,
    ETA_FILE,
    LATENTS_FILE,
    METRICS_FILE,
    STATES,
    STATUS_FILE,
    STOP_FILE,
    append_jsonl,
    atomic_write_csv,
    atomic_write_json,
    now_iso,
    package_versions,
    read_jsonl,
)
from crl.runs.graph_file import write_graph
from crl.runs.storage import remove_stale_temp_files


class RunFolder:
    """Reads and writes one run folder; the training process owns the writes."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    # -- writing -------------------------------------------------------------------------------------------------
    def start(self, config, cohort, device: str) -> None:
        """Create the folder, write config.json and a "running" status; clears metrics from an earlier run and
        what killed writes left (crl.runs.storage.remove_stale_temp_files)."""
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.path)
        for stale in (METRICS_FILE, STOP_FILE):
            (self.path / stale).unlink(missing_ok=True)
        atomic_write_json(
            self.path / CONFIG_FILE,
            {
                "config": config.to_dict(),
                "latent_names": config.latent_names(),
                "cohort": {
                    "name": cohort.name,
                    # Absolute, so the record does not depend on the directory training started in.
                    "root": str(Path(cohort.root).resolve()) if cohort.root is not None else None,
                    "fingerprint": cohort.fingerprint(),
                    "n_subjects": len(cohort),
                    "schema": cohort.schema(),
                },
                "versions": package_versions(),
                "device": device,
                "created": now_iso(),
            },
        )
        self.set_state(
            "running",
            device=device,
            started=now_iso(),
            pid=os.getpid(),
            error=None,
            progress={"epoch": 0, "epochs": config.train.epochs, "step": 0, "fraction": 0.0},
        )

    def set_state(self, state: str, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into status.json with the new `state`; returns the written status."""
        if state not in STATES:
            raise ValueError(f"unknown run state '{state}'")
        status = self.read_status(missing_ok=True)
        status.update(fields)
        status["state"] = state
        status["updated"] = now_iso()
        atomic_write_json(self.path / STATUS_FILE, status)
        return status

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON object as a line of metrics.jsonl."""
        append_jsonl(self.path / METRICS_FILE, record)

    def write_latents(self, table) -> None:
        """latents.csv: `subject_id` then `<modality>.z<k>` columns (a pandas DataFrame)."""
        atomic_write_csv(self.path / LATENTS_FILE, table)

    def write_eta(self, table) -> None:
        """eta.csv: `subject_id` then `<modality>.eta<k>` columns, the posterior means of the eta dimensions."""
        atomic_write_csv(self.path / ETA_FILE, table)

    def write_graph(self, latent_names: Sequence[str], strengths: np.ndarray) -> None:
        """graph.csv: every ordered pair of distinct latents with its strength (`strengths[source, target]`)."""
        write_graph(self.path, latent_names, strengths)

    def finish(self, result) -> None:
        """Mark the run done (or stopped, when a callback or stop file ended it early)."""
        state = "stopped" if result.stopped_by_callback else "done"
        self.set_state(
            state,
            finished=now_iso(),
            error=None,
            best_epoch=result.best_epoch,
            best_validation_loss=result.best_validation_loss,
            epochs_run=result.epochs_run,
            seconds=round(result.seconds, 3),
            **({"restarts": result.restarts, "kept_restart": result.restart} if result.restarts else {}),
        )

    def fail(self, message: str) -> None:
        """Mark the run failed with a readable message."""
        self.set_state("failed", finished=now_iso(), error=message)

    def stop_requested(self) -> bool:
        return (self.path / STOP_FILE).exists()

    # -- reading -------------------------------------------------------------------------------------------------
    def read_status(self, missing_ok: bool = False) -> dict[str, Any]:
        path = self.path / STATUS_FILE
        if not path.exists():
            if missing_ok:
                return {}
            raise RunError(f"{self.path} is not a run folder: it has no {STATUS_FILE}")
        return json.loads(path.read_text(encoding="utf-8"))

    def read_config(self) -> dict[str, Any]:
        path = self.path / CONFIG_FILE
        if not path.exists():
            raise RunError(f"{self.path} is not a run folder: it has no {CONFIG_FILE}")
        return json.loads(path.read_text(encoding="utf-8"))

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every complete line of metrics.jsonl (a line being written is skipped)."""
        return read_jsonl(self.path / METRICS_FILE)


def recorded_cohort_path(run: Path | str, config: dict[str, Any] | None = None) -> Path | None:
    """The cohort folder a run's config.json records, or None when it records none.

    Reads `cohort.root` (what `RunFolder.start` writes) or `cohort.path` (older and hand-written runs). A relative
    path is taken relative to the run folder, so a run shipped beside its cohort (e.g. "../cohort") finds it
    wherever the two are copied together. `config` is the parsed config.json when the caller already has it.
    """
    run = Path(run)
    if config is None:
        try:
            config = json.loads((run / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    cohort = config.get("cohort") if isinstance(config, dict) else None
    recorded = (cohort.get("root") or cohort.get("path")) if isinstance(cohort, dict) else cohort
    if not recorded or not isinstance(recorded, str):
        return None
    path = Path(recorded)
    return path if path.is_absolute() else run / path


def flatten_losses(prefix: str, terms: dict[str, float]) -> dict[str, float]:
    """{"total": 1.0} -> {"<prefix>total": 1.0}."""
    return {f"{prefix}{name}": value for name, value in terms.items()}


class RunFolderCallback:
    """fit() callback that logs metrics, keeps status.json current, checkpoints for resume and honours STOP."""

    def __init__(self, run: RunFolder, cohort, config):
        self.run = run
        self.cohort = cohort
        self.config = config
        self.started = time.perf_counter()

    def on_start(self, info: dict[str, Any]) -> None:
        self.epochs = info["epochs"]
        self.run.set_state(
            "running", device=info["device"], n_train=info["n_train"], n_validation=info["n_validation"]
        )

    def on_epoch(self, info: dict[str, Any]) -> bool:
        epoch = info["epoch"]
        record = {
            "step": info["step"],
            "epoch": epoch,
            **info["train"],
            "validation_loss": info["validation_loss"],
        }
        record.update(flatten_losses("validation.", info["validation"]))
        record.update(lr=info["lr"], seconds=info["seconds"], samples_per_second=info["samples_per_second"])
        if "restart" in info:  # crl.engine.restarts: which restart this epoch belongs to
            record["restart"] = info["restart"]
        if epoch % self.config.train.log_every == 0:
            self.run.append_metrics(record)
        self.run.set_state(
            "running",
            progress={
                "epoch": epoch + 1,
                "epochs": self.epochs,
                "step": info["step"],
                "fraction": (epoch + 1) / max(self.epochs, 1),
                "best_epoch": info["best_epoch"],
                "elapsed_seconds": round(time.perf_counter() - self.started, 3),
            },
        )
        if (epoch + 1) % self.config.train.checkpoint_every == 0:
            from crl.runs.checkpoint import save_training_state

            save_training_state(self.run.path, info["training_state"]())
        return self.run.stop_requested()
