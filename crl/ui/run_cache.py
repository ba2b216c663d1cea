"""Cached loaders for run folders: each result is keyed by the folder's path and its files' modification times.

Everything a threshold slider does not change (reading CSVs, matching to the truth, the PC search, feature
correlations) is computed once here; what the slider does change (identifiability of an adjacency) is cached
by the adjacency itself, so moving back to a threshold seen before costs nothing. Cached objects are shared
between reruns and sessions: callers must not mutate them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from crl.analysis.graph import LatentGraph, load_level_graph
from crl.errors import CrlError, RunError
from crl.graphs.identifiability import IdentifiabilityReport, check_identifiability
from crl.runs.folder import recorded_cohort_path
from crl.runs.graph_file import graph_path
from crl.runs.run import READ_ERRORS, Run, SparsityLevel

DEFAULT_THRESHOLD = 0.5
_READ_ERRORS = READ_ERRORS


def stamp(path: Path) -> float:
    """Modification time of a file or folder, 0 when it does not exist (so a new file changes the key)."""
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


def run_stamp(run: Path) -> tuple[float, ...]:
    """Modification times of the files a page reads from a run folder."""
    return tuple(stamp(f) for f in Run(run).watched_files())


# ------------------------------------------------------------------------------------------ run files


@st.cache_data(show_spinner=False, max_entries=64)
def _config(path: str, mtime: float) -> dict:
    return Run(path).config  # {} when missing; RunError naming the file when it is not readable JSON


def config(run: Path) -> dict:
    return _config(str(run), stamp(Run(run).config_file))


def recorded_threshold(run: Path) -> float:
    """The threshold in config.json; the default when it is missing or config.json is unreadable."""
    try:
        return float((config(run).get("graph") or {}).get("threshold", DEFAULT_THRESHOLD))
    except (CrlError, TypeError, ValueError, AttributeError):
        return DEFAULT_THRESHOLD


def recorded_cohort(run: Path) -> Path | None:
    """The cohort folder recorded in config.json, when it still exists (None if config.json is unreadable)."""
    try:
        cohort = config(run).get("cohort")
    except CrlError:
        return None
    path = recorded_cohort_path(run, {"cohort": cohort})
    if path is not None and (path / "cohort.toml").exists():
        return path
    return None


@st.cache_resource(show_spinner="Reading the learned graph…", max_entries=64)
def _graph(path: str, graph_mtime: float, latents_mtime: float, folder: str) -> LatentGraph:
    try:
        graph = load_level_graph(Path(path), None if folder == path else Path(folder))
    except CrlError:
        raise
    except _READ_ERRORS as error:
        raise RunError(
            f"{graph_path(folder)} could not be read ({error}); it should be a CSV with columns "
            "source,target,weight: retrain the run or pick another one"
        ) from None
    if not graph.names:
        raise RunError(f"{graph_path(folder)} lists no latents; retrain the run or pick another one")
    if not np.isfinite(graph.weights).all():
        raise RunError(
            f"{graph_path(folder)} has missing or infinite weights; retrain the run or pick another one"
        )
    return graph


def graph(run: Path, level: Path | None = None) -> LatentGraph:
    """The run's learned graph (or a sparsity level's, `level` = its folder). Raises RunError when unreadable."""
    found = Run(run)
    folder = Path(level) if level else found.path
    return _graph(str(found.path), stamp(graph_path(folder)), stamp(found.latents_file), str(folder))


@st.cache_resource(show_spinner="Reading the learned latents…", max_entries=16)
def _latents(path: str, mtime: float) -> pd.DataFrame:
    found = Run(path)
    if not found.has_latents:
        raise RunError(
            f"{Path(path)} has no latents.csv: it is not a finished run (train it on the Train page)"
        )
    return found.latents()  # RunError naming the file when it cannot be read


def latents(run: Path) -> pd.DataFrame:
    """The run's learned latents `(subjects, latents)` indexed by subject_id."""
    return _latents(str(run), stamp(Run(run).latents_file))


@st.cache_data(show_spinner=False, max_entries=32)
def _metrics_log(path: str, mtime: float) -> pd.DataFrame:
    # A line being written right now, or a damaged one, is skipped; the rest is kept.
    rows = Run(path).metrics()
    return pd.json_normalize(rows, sep=".") if rows else pd.DataFrame()


def metrics_log(run: Path) -> pd.DataFrame:
    """metrics.jsonl as a table (empty when missing); nested objects become dotted columns, bad lines are skipped."""
    return _metrics_log(str(run), stamp(Run(run).metrics_file))


@st.cache_data(show_spinner=False, max_entries=64)
def _status(path: str, mtime: float) -> dict:
    return Run(path).status


def status(run: Path) -> dict:
    """status.json ({} when missing or unreadable: a run being written may not have one yet)."""
    return _status(str(run), stamp(Run(run).status_file))


def last_value(log: pd.DataFrame, *columns: str) -> float | None:
    """The last logged number in the first of `columns` present (e.g. the final validation loss)."""
    for column in columns:
        if column in log.columns:
            values = pd.to_numeric(log[column], errors="coerce").dropna()
            if len(values):
                return float(values.iloc[-1])
    return None


@st.cache_resource(show_spinner=False, max_entries=32)
def _confidence(path: str, stamps: tuple[float, ...]):
    from crl.analysis.confidence import Confidence

    return Confidence.of_run(path)


def confidence(run: Path):
    """How far the run can be believed (crl.analysis.confidence.Confidence): agreement across restarts when it
    has them, each latent's cross-modal share from its latents; None when nothing can be measured."""
    from crl.runs.files import EDGE_CONFIDENCE_FILE, LATENT_STABILITY_FILE, LATENTS_FILE

    stamps = tuple(
        stamp(Path(run) / name) for name in (EDGE_CONFIDENCE_FILE, LATENT_STABILITY_FILE, LATENTS_FILE)
    )
    return _confidence(str(run), stamps)


@st.cache_data(show_spinner=False, max_entries=32)
def _sparsity_levels(path: str, mtime: float) -> list[SparsityLevel]:
    return Run(path).sparsity_levels()


def sparsity_levels(run: Path) -> list[SparsityLevel]:
    """The run's sparsity path (`path/index.json` + `path/<k>/graph.csv`), weakest sparsity first; [] if none.

    index.json may be a list of weights (folder = position), a list of {"k", "sparsity"} objects, or an
    object {k: weight}; levels whose graph.csv is missing are left out.
    """
    return _sparsity_levels(str(run), stamp(Run(run).path_index_file))


# ------------------------------------------------------------------------------------------ analyses


@st.cache_resource(show_spinner=False, max_entries=512)
def _identifiability(
    adjacency: bytes, n: int, blocks: tuple[tuple[str, tuple[int, ...]], ...], names: tuple[str, ...]
) -> IdentifiabilityReport:
    adj = np.frombuffer(adjacency, dtype=np.int8).reshape(n, n)
    return check_identifiability(adj, dict(blocks), list(names))


def identifiability(graph: LatentGraph, adjacency: np.ndarray, names: list[str]) -> IdentifiabilityReport:
    """check_identifiability of a 0/1 adjacency (source row) over the graph's modality blocks, cached by it."""
    blocks = tuple((m, tuple(idx)) for m, idx in graph.blocks().items())
    # Within-modality links never decide the answer (docs/method.md §5b), so thresholds that differ only there
    # share one cached report.
    cross = np.asarray(adjacency) * graph.cross_modal()
    key = np.ascontiguousarray(cross, dtype=np.int8).tobytes()
    return _identifiability(key, len(names), blocks, tuple(names))


def _cohort(folder: Path):
    from crl.ui import cache  # the lead's cached cohort loader (path + modification time)

    return cache.cohort(folder)


@st.cache_data(show_spinner="Finding the observed features each latent moves with…", max_entries=16)
def _drivers(path: str, stamps: tuple[float, ...], cohort: str, cohort_stamp: float) -> dict[str, str]:
    from crl.analysis.drivers import describe_drivers, observed_features, top_features
    from crl.data.labels import labels_of

    found = _stored_drivers(Path(path), Path(cohort))
    if found is None:
        features, owners = observed_features(_cohort(Path(cohort)))
        if features.shape[1] == 0:
            return {}
        found = top_features(latents(Path(path)), features, owners)
    shown = labels_of(Path(cohort))  # features by their cohort.toml labels (its change moves cohort_stamp)
    return {latent: describe_drivers(items, labels=shown) for latent, items in found.items()}


def _stored_drivers(run: Path, cohort: Path) -> dict[str, list[tuple[str, float]]] | None:
    """drivers.json, written when training ended, when `cohort` is the one the run was trained on; None when
    it is another cohort, or the file is missing (an older run) or damaged: then they are computed."""
    import json

    from crl.runs.files import DRIVERS_FILE

    trained = recorded_cohort(run)
    if trained is None or trained.resolve() != Path(cohort).resolve():
        return None
    try:
        stored = json.loads((run / DRIVERS_FILE).read_text(encoding="utf-8"))["drivers"]
        return {str(k): [(str(f), float(r)) for f, r in v] for k, v in stored.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def drivers(run: Path, cohort: Path) -> dict[str, str]:
    """Latent -> hover text naming the observed features it moves with most (see crl.analysis.drivers)."""
    from crl.ui import cache

    return _drivers(str(run), run_stamp(run), str(cohort), cache.folder_stamp(Path(cohort)))


@st.cache_data(show_spinner="Running the PC algorithm on latents and covariates…", max_entries=32)
def _covariate_links(path: str, stamps: tuple[float, ...], cohort: str, cohort_stamp: float, alpha: float):
    from crl.analysis.covariates import link_covariates
    from crl.data.load import load_covariates_only

    covariates = load_covariates_only(Path(cohort))  # the table alone: no photograph is decoded for it
    if covariates is None:
        raise CrlError("this cohort has no clinical covariates; add a [covariates] table to its cohort.toml")
    learned = latents(Path(path))
    # Aligned to the run's subjects, as a loaded cohort aligns them (a subject without a row counts as missing).
    return link_covariates(learned, covariates.reindex(learned.index.astype(str)), alpha)


def covariate_links(run: Path, cohort: Path, alpha: float):
    """crl.analysis.covariates.link_covariates on the run's latents and the cohort's covariates, cached."""
    from crl.ui import cache

    return _covariate_links(
        str(run), run_stamp(run), str(cohort), cache.folder_stamp(Path(cohort)), float(alpha)
    )


def has_truth(cohort: Path | None) -> bool:
    return bool(cohort) and (Path(cohort) / "truth" / "graph.csv").is_file()


def has_covariates(cohort: Path) -> bool:
    """Whether the cohort's manifest declares covariates (read from cohort.toml alone: no data is loaded)."""
    from crl.data.manifest import read_manifest

    manifest, _ = read_manifest(Path(cohort))
    return manifest is not None and manifest.covariates is not None


@st.cache_resource(show_spinner="Matching learned latents to the true ones…", max_entries=16)
def _truth_match(path: str, stamps: tuple[float, ...], cohort: str, truth_stamp: float):
    from crl.analysis.compare import match_to_truth
    from crl.data.truth import load_truth

    return match_to_truth(latents(Path(path)), load_truth(Path(cohort)))


def truth_match(run: Path, cohort: Path):
    """crl.analysis.compare.match_to_truth for the run against the cohort's truth/ folder, cached."""
    return _truth_match(str(run), run_stamp(run), str(cohort), stamp(Path(cohort) / "truth" / "latents.csv"))


@st.cache_data(show_spinner="Scoring the run against the ground truth…", max_entries=32)
def _evaluation(
    path: str, stamps: tuple[float, ...], cohort: str, truth_stamp: float, threshold: float, r2: bool = True
) -> dict:
    from crl.analysis.stored_evaluation import score_tables, stored_evaluation

    stored = stored_evaluation(Path(path), Path(cohort), threshold)  # written when training ended
    if stored is not None:
        return stored
    learned = latents(Path(path))  # cached; a missing or damaged latents.csv is named as the pages name it
    try:
        edges = Run(path).graph_table()
    except _READ_ERRORS as error:
        raise RunError(f"{graph_path(path)} could not be read ({error}); retrain the run") from None
    return score_tables(learned, edges, Path(cohort), threshold, r2=r2)


def evaluation(run: Path, cohort: Path, threshold: float, r2: bool = True) -> dict:
    """crl.analysis.evaluate.score of the run against the cohort's truth at `threshold` (|weight|), cached;
    without `r2` the held-out R² (most of the time) is left out."""
    return _evaluation(
        str(run),
        run_stamp(run),
        str(cohort),
        stamp(Path(cohort) / "truth" / "latents.csv"),
        float(threshold),
        bool(r2),
    )


@st.cache_data(show_spinner=False, max_entries=16)
def _plain_names(path: str, stamps: tuple[float, ...], cohort: str, names_stamp: float) -> dict[str, str]:
    from crl.analysis.names import plain_names

    return plain_names(Path(cohort), latents(Path(path)))


@st.cache_data(show_spinner=False, max_entries=64)
def _base_names(
    path: str, stamps: tuple[float, ...], cohort: str | None, names_stamp: float, manifest_stamp: float = 0.0
) -> dict[str, str]:
    from crl.analysis.names import default_names
    from crl.data.labels import labels_of

    # "Home sleep test 1" when cohort.toml labels the modality (manifest_stamp keys the cache on it).
    shown = labels_of(Path(cohort) if cohort is not None else None)
    defaults = default_names(list(graph(Path(path)).names), shown)
    if cohort is not None and names_stamp:
        try:
            defaults.update(_plain_names(path, stamps, cohort, names_stamp))
        except CrlError:
            pass  # plain names are a nicety; the defaults stand
    return defaults


@st.cache_data(show_spinner=False, max_entries=64)
def _display_names(
    path: str, stamps: tuple[float, ...], cohort: str | None, names_stamp: float, manifest_stamp: float = 0.0
) -> dict[str, str]:
    from crl.analysis.names import load_names

    return load_names(Path(path), _base_names(path, stamps, cohort, names_stamp, manifest_stamp))


def _key(run: Path, cohort: Path | None) -> tuple:
    names_stamp = stamp(Path(cohort) / "truth" / "latent_names.csv") if cohort is not None else 0.0
    manifest_stamp = stamp(Path(cohort) / "cohort.toml") if cohort is not None else 0.0
    return str(run), run_stamp(run), str(cohort) if cohort is not None else None, names_stamp, manifest_stamp


def display_names(run: Path, cohort: Path | None) -> dict[str, str]:
    """Latent -> the name to show: the user's edit (names.json), else a plain name from the truth, else "Sleep 1".

    Raises RunError when names.json is damaged (base_names still works then).
    """
    return _display_names(*_key(run, cohort))


def base_names(run: Path, cohort: Path | None) -> dict[str, str]:
    """The names shown before any edit: what a cleared cell falls back to."""
    return _base_names(*_key(run, cohort))


@st.cache_data(show_spinner=False, max_entries=16)
def _true_names(cohort: str, names_stamp: float) -> dict[str, str]:
    from crl.analysis.names import plain_names

    return plain_names(Path(cohort))


def true_names(cohort: Path) -> dict[str, str]:
    """True latent ("sleep.z0") -> its plain name from the cohort's truth/latent_names.csv, when it has one."""
    return _true_names(str(cohort), stamp(Path(cohort) / "truth" / "latent_names.csv"))
