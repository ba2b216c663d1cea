"""What a run report is made from, read once: the run, its graph, names and confidence, and the cohort when it
can be found and loaded (and, when not, why not, in words the report can print)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from crl.analysis.confidence import Confidence
from crl.analysis.graph import LatentGraph, load_graph
from crl.analysis.names import default_names, load_names, plain_names
from crl.data.labels import Labels, labels_of
from crl.errors import CohortError, CrlError, RunError
from crl.runs.run import Run


@dataclass
class ReportInputs:
    """Everything read once from the run and the cohort."""

    run: Run
    graph: LatentGraph
    latents: pd.DataFrame
    threshold: float
    labels: dict[str, str]
    confidence: Confidence | None
    cohort_path: Path | None
    cohort: object | None  # crl.data.Cohort when it loaded
    missing_cohort: str | None  # why there is no cohort, in words
    notes: list[str] = field(default_factory=list)
    drivers: dict[str, str] = field(default_factory=dict)  # latent -> the observed features it moves with
    display: Labels = field(default_factory=Labels)  # modality, column and covariate names from cohort.toml


def finished_run(run_dir: Path) -> Run:
    """The run, or RunError saying why it cannot be reported on (no folder, still training, no results)."""
    run = Run(run_dir)
    if not run.path.is_dir():
        raise RunError(f"{run.path} is not a folder; pass a run folder written by `crl train`")
    if not run.has_graph or not run.has_latents:
        missing = " and ".join(
            f for f, ok in (("graph.csv", run.has_graph), ("latents.csv", run.has_latents)) if not ok
        )
        raise RunError(
            f"{run.path} is not a finished run: it has no {missing} (it may still be training, or it stopped "
            "early; `crl runs status RUN` says which)"
        )
    return run


def _cohort_folder(run: Run, cohort_dir: Path | None) -> tuple[Path | None, str | None]:
    """(the cohort folder to read, or None and why not). A --cohort that is no cohort folder is an error."""
    if cohort_dir is not None:
        path = Path(cohort_dir)
        if not (path / "cohort.toml").is_file():
            raise CohortError(
                f"{path} is not a cohort folder (it has no cohort.toml); pass the folder the run was trained "
                "on, or leave --cohort out to use the one the run records"
            )
        return path, None
    recorded = run.cohort_path()
    if recorded is None:
        return None, "the run does not record which cohort that was"
    if not (recorded / "cohort.toml").is_file():
        return None, f"that cohort, {os.path.normpath(recorded)}, is not there any more"
    return recorded, None


def read_inputs(run_dir: Path, cohort_dir: Path | None) -> ReportInputs:
    from crl.data import load_cohort

    run = finished_run(run_dir)
    graph = load_graph(run.path)
    latents = run.latents()
    cohort_path, why = _cohort_folder(run, cohort_dir)
    cohort = None
    if cohort_path is not None:
        try:
            cohort = load_cohort(cohort_path)
        except CohortError as error:
            lines = str(error).splitlines()
            why = f"the cohort at {cohort_path} could not be loaded ({' '.join(lines[1:4]) or lines[0]})"
    notes = []
    display = labels_of(cohort_path)
    labels = default_names(graph.names, display)
    if cohort_path is not None:
        try:
            labels.update(plain_names(cohort_path, latents))
        except CrlError:
            pass  # plain names are a nicety; the defaults stand
    try:
        labels = load_names(run.path, labels)
    except RunError as error:
        notes.append(f"your latent names were not used: {error}")
    return ReportInputs(
        run,
        graph,
        latents,
        run.threshold(),
        _unique(labels, graph.names),
        Confidence.of_run(run.path),
        cohort_path,
        cohort,
        why if cohort is None else None,
        notes,
        _drivers(cohort, latents, display),
        display,
    )


def _unique(labels: dict[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """Display names with duplicates told apart by the latent's id, as the Latent graph page does."""
    shown = [labels.get(n, n) for n in names]
    return {n: f"{s} ({n})" if shown.count(s) > 1 else s for n, s in zip(names, shown, strict=True)}


def _drivers(cohort, latents: pd.DataFrame, display: Labels) -> dict[str, str]:
    """Latent -> the observed features it moves with most, on one line; {} without the cohort."""
    from crl.analysis.drivers import describe_drivers, observed_features, top_features

    if cohort is None:
        return {}
    try:
        features, owners = observed_features(cohort)
        if features.shape[1] == 0:
            return {}
        found = top_features(latents, features, owners)
    except CrlError:
        return {}
    return {
        n: describe_drivers(items, labels=display).replace("Moves most with:\n", "").replace("\n", "; ")
        for n, items in found.items()
    }
