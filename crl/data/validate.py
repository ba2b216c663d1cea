"""Check a cohort folder and report every problem at once: `validate_cohort(root) -> ValidationReport`."""

from __future__ import annotations

import difflib
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.align import align
from crl.data.labels import unknown_labels
from crl.data.loaders import (
    Loaded,
    LoadError,
    listing,
    load_anndata,
    load_covariates,
    load_images,
    load_tabular,
    load_timeseries,
    plural,
    verb,
)
from crl.data.manifest import (
    LENGTH_POLICIES,
    MANIFEST_FILE,
    NAN_POLICIES,
    Manifest,
    ModalitySpec,
    Problem,
    read_manifest,
)
from crl.data.manifest_omics import is_omics_path
from crl.data.missing import MISSING_POLICIES
from crl.errors import ConfigError

__all__ = ["MIN_SUBJECTS", "Problem", "ValidationReport", "validate_cohort"]

MIN_SUBJECTS = 20


@dataclass
class Prepared:
    """What validation loaded, kept for `load_cohort` so no file is read twice (policies already applied)."""

    manifest: Manifest
    data: dict[str, Loaded]
    subject_ids: np.ndarray  # (N,) str, sorted: kept by the missing-modality and NaN policies
    covariates: pd.DataFrame | None
    present: dict[str, np.ndarray] = field(default_factory=dict)  # "infer": who has the modalities some lack
    lacks: dict[str, str] = field(
        default_factory=dict
    )  # "infer": kept subject -> why "drop" would leave it out


@dataclass
class ValidationReport:
    """Every problem found in a cohort folder; `ok` when none is an error.

    n_subjects: subjects that training would use (kept by the NaN policy and present in every modality, or
    under missing_policy="infer" in at least one).
    excluded: subject ID -> why it is left out.
    """

    root: Path
    name: str
    problems: list[Problem] = field(default_factory=list)
    n_subjects: int = 0
    n_modalities: int = 0
    excluded: dict[str, str] = field(default_factory=dict)
    prepared: Prepared | None = field(default=None, repr=False, compare=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when the cohort can be trained on (warnings allowed)."""
        return not self.errors

    def summary(self) -> str:
        return (
            f"cohort '{self.name}': {plural(self.n_subjects, 'subject')}, "
            f"{plural(self.n_modalities, 'modality', 'modalities')}, "
            f"{plural(len(self.errors), 'error')}, {plural(len(self.warnings), 'warning')}"
        )

    def format(self) -> str:
        """Plain lines for a terminal: one per problem, then the one-line summary."""
        return "\n".join([*(p.line() for p in self.problems), self.summary()])

    def to_dict(self) -> dict:
        return {
            "root": str(self.root),
            "name": self.name,
            "ok": self.ok,
            "n_subjects": self.n_subjects,
            "n_modalities": self.n_modalities,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
            "excluded": dict(self.excluded),
        }


def _check_option(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(allowed)}.")


def _policy(argument: str, spec: ModalitySpec, key: str) -> str:
    """The stricter default "error" gives way to a policy set in either place; the argument wins over the file."""
    return argument if argument != "error" else spec.options.get(key, "error")


def validate_cohort(
    root: Path,
    *,
    nan_policy: str = "error",
    length_policy: str = "error",
    min_subjects: int = MIN_SUBJECTS,
    keep_data: bool = False,
    missing_policy: str = "drop",
) -> ValidationReport:
    """Check everything about a cohort folder and return all problems; never raises on bad data.

    nan_policy: "error" (NaN/inf are errors), "drop" (leave those subjects out), "impute" (column/channel
    medians over all subjects). length_policy: "error", "pad" (repeat the last value up to the longest),
    "crop" (to the shortest) or "resample" (interpolate to the most common length). A modality's table in
    cohort.toml may set either policy; an argument other than "error" overrides it.
    missing_policy: "drop" (subjects lacking a modality, or dropped by the NaN policy in one, are left out) or
    "infer" (they are kept with that modality marked absent: crl.data.missing; only a subject with no usable
    modality is left out).
    keep_data: keep the loaded arrays on `report.prepared` (for `load_cohort`) when the report is ok.
    """
    _check_option("nan_policy", nan_policy, NAN_POLICIES)
    _check_option("length_policy", length_policy, LENGTH_POLICIES)
    _check_option("missing_policy", missing_policy, MISSING_POLICIES)
    root = Path(root)
    if root.name == MANIFEST_FILE and root.is_file():
        root = root.parent
    report = ValidationReport(root=root, name=root.name)
    problems = report.problems
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        problems.append(
            Problem(
                "error",
                "no_folder",
                f"{root} {what}.",
                "give the cohort folder (the one holding cohort.toml).",
            )
        )
        return report
    manifest, manifest_problems = read_manifest(root)
    problems.extend(manifest_problems)
    if manifest is None:
        return report
    report.name = manifest.name
    report.n_modalities = len(manifest.modalities)

    loaded: dict[str, Loaded] = {}
    dropped: dict[str, list[str]] = {}  # subject -> modalities where the NaN policy dropped it
    for name, spec in manifest.modalities.items():
        result = _load_modality(
            root, manifest.id, spec, _policy(length_policy, spec, "length_policy"), problems
        )
        if result is None:
            continue
        loaded[name] = result
        nan = _policy(nan_policy, spec, "nan_policy")
        for subject in _check_values(spec, result, nan, problems, infer=missing_policy == "infer"):
            dropped.setdefault(subject, []).append(name)

    all_loaded = bool(loaded) and len(loaded) == len(manifest.modalities)
    kept = align(manifest, loaded, dropped, report, missing_policy)
    subject_ids = kept.subject_ids
    report.n_subjects = len(subject_ids)
    no_overlap = any(p.check == "no_overlap" for p in problems)
    if all_loaded and not no_overlap and len(subject_ids) < min_subjects:
        problems.append(
            Problem(
                "error",
                "too_few_subjects",
                f"only {len(subject_ids)} subjects can be used ("
                f"{'with a usable modality' if missing_policy == 'infer' else 'present in every modality'}, "
                "with usable values); "
                f"training needs at least {min_subjects}.",
                "add subjects, or see the warnings above for why subjects were left out.",
            )
        )

    covariates = check_covariates(root, manifest, subject_ids, problems)
    features = {name: result.feature_names for name, result in loaded.items()}
    problems.extend(
        unknown_labels(manifest, features, None if covariates is None else list(covariates.columns))
    )
    if keep_data and report.ok:
        report.prepared = Prepared(manifest, loaded, subject_ids, covariates, kept.present, kept.lacks)
    return report


def _relative(problem: Problem, root: Path) -> Problem:
    """Loaders name files by full path; the report names them relative to the cohort folder."""
    # Reader messages quote full paths too; inside the cohort folder the relative path says enough.
    message = problem.message.replace(f"{root}{os.sep}", "")
    file = problem.file
    if file is not None and Path(file).is_relative_to(root):
        file = Path(file).relative_to(root).as_posix()
    return replace(problem, message=message, file=file)


def _missing_file(root: Path, relative: str, section: str) -> Problem:
    parent = (root / relative).parent
    try:
        nearby = [p.name for p in parent.iterdir()] if parent.is_dir() else []
    except OSError:
        nearby = []
    close = difflib.get_close_matches(Path(relative).name, nearby, n=1, cutoff=0.75)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return Problem(
        "error",
        "missing_file",
        f"{relative} does not exist.{hint}",
        f"check path in {section} of cohort.toml (paths are relative to the cohort folder).",
        file=relative,
    )


def _unreadable(relative: str, what: str, error: Exception) -> Problem:
    text = (str(error).strip().splitlines() or [""])[0][:300]
    return Problem(
        "error",
        "unreadable_file",
        f"cannot read it as {what} ({type(error).__name__}: {text}).",
        "check the file opens in another program and is saved in the format its name says.",
        file=relative,
    )


_WHAT = {
    "tabular": "a table (.csv or .parquet)",
    "timeseries": "a time-series table (.csv or .parquet) or .npz",
    "image": "images (.png/.jpg folder or .npz)",
}


def _load_modality(
    root: Path, id_column: str, spec: ModalitySpec, length_policy: str, problems: list[Problem]
) -> Loaded | None:
    path = root / spec.path
    if not path.exists():
        problems.append(_missing_file(root, spec.path, f"[modalities.{spec.name}]"))
        return None
    found: list[Problem] = []
    result = None
    omics = spec.kind == "tabular" and is_omics_path(path)  # obs names are the IDs: no id_column
    try:
        if omics:
            result = load_anndata(path, spec.options.get("layer"), spec.options.get("modality"), found)
        elif spec.kind == "tabular":
            result = load_tabular(path, id_column, found)
        elif spec.kind == "timeseries":
            result = load_timeseries(path, id_column, spec.time, length_policy, found)
        else:
            result = load_images(path, found)
    except LoadError:
        pass  # its problems are already in `found`
    except Exception as error:  # noqa: BLE001 - bad data must become a Problem, never a crash
        what = "an AnnData (.h5ad) or MuData (.h5mu) file" if omics else _WHAT[spec.kind]
        found.append(_unreadable(spec.path, what, error))
    problems.extend(_relative(p, root) for p in found)
    if result is not None and len(result.subject_ids) == 0:
        problems.append(
            Problem("error", "no_subjects", "holds no subjects.", "add one row per subject.", spec.path)
        )
        return None
    return result


def _duplicates(ids: np.ndarray, file: str, problems: list[Problem]) -> None:
    counts = Counter(ids.tolist())
    twice = [(s, k) for s, k in counts.items() if k > 1]
    if twice:
        problems.append(
            Problem(
                "error",
                "duplicate_ids",
                f"{plural(len(twice), 'subject ID')} {verb(len(twice), 'appears', 'appear')} more than once: "
                f"{listing(f'{s} (x{k})' for s, k in twice)}.",
                "keep exactly one row (or file) per subject.",
                file=file,
            )
        )


def _check_values(
    spec: ModalitySpec, loaded: Loaded, nan_policy: str, problems: list[Problem], infer: bool = False
) -> list[str]:
    """Duplicates, NaN/inf (with the policy applied in place) and constant columns; returns subjects to drop
    (from this modality only when `infer`: missing_policy="infer" keeps them for their other modalities)."""
    file = spec.path
    _duplicates(loaded.subject_ids, file, problems)
    data = loaded.data
    if data.dtype.kind != "f":  # images: uint8, nothing can be missing
        return []
    axes = (0,) if data.ndim == 2 else (0, 2)  # per tabular column / per time-series channel
    unit = "column" if data.ndim == 2 else "channel"
    finite = np.isfinite(data)
    names = loaded.feature_names
    to_drop: list[str] = []
    if not finite.all():
        n_nan = np.isnan(data).sum(axis=axes)
        n_inf = (~finite).sum(axis=axes) - n_nan
        per_column = finite.sum(axis=axes)
        empty = [names[j] for j in np.flatnonzero(per_column == 0)]
        if empty:
            problems.append(
                Problem(
                    "error",
                    "empty_column",
                    f"{plural(len(empty), unit)} {verb(len(empty), 'holds', 'hold')} no usable value at all: {listing(empty)}.",
                    f"remove the {unit} or fill it in.",
                    file=file,
                    column=empty[0] if len(empty) == 1 else None,
                )
            )
        bad = [j for j in range(len(names)) if n_nan[j] + n_inf[j] > 0 and per_column[j] > 0]
        rows = ~finite.reshape(len(data), -1).all(axis=1)
        counts = listing((f"{names[j]} ({_nan_inf(n_nan[j], n_inf[j])})" for j in bad), 8)
        column = names[bad[0]] if len(bad) == 1 else None
        if bad and nan_policy == "error":
            problems.append(
                Problem(
                    "error",
                    "non_finite",
                    f"{int((n_nan + n_inf).sum())} missing or infinite values in {plural(len(bad), unit)}, "
                    f"{plural(int(rows.sum()), 'subject')} affected: {counts}.",
                    'fill them in, or load with nan_policy="drop" (leave those subjects out) or "impute" '
                    f"({unit} medians); the policy can also be set as nan_policy in [modalities.{spec.name}].",
                    file=file,
                    column=column,
                )
            )
        elif bad and nan_policy == "drop":
            to_drop = loaded.subject_ids[rows].tolist()
            fate = (
                f"{verb(len(to_drop), 'keeps', 'keep')} their other modalities; their '{spec.name}' latents are "
                "inferred from those"
                if infer
                else "left out"
            )
            problems.append(
                Problem(
                    "warning",
                    "non_finite",
                    f"{plural(len(to_drop), 'subject')} with missing or infinite values {fate} "
                    f"(nan_policy='drop'): {listing(to_drop)}; per {unit}: {counts}.",
                    file=file,
                    column=column,
                )
            )
        elif bad and nan_policy == "impute":
            _impute(data, finite, axes)
            problems.append(
                Problem(
                    "warning",
                    "non_finite",
                    f"missing or infinite values replaced by {unit} medians (nan_policy='impute'): {counts}.",
                    file=file,
                    column=column,
                )
            )
    constant = []
    for j, name in enumerate(names):
        values = data[:, j]
        values = values[np.isfinite(values)]
        if values.size >= 2 and values.min() == values.max():
            constant.append(f"{name} (always {values.flat[0]:g})")
    if constant:
        problems.append(
            Problem(
                "warning",
                "constant_column",
                f"{plural(len(constant), unit)} {verb(len(constant), 'has', 'have')} the same value for every subject and carry no information: "
                f"{listing(constant)}.",
                f"remove the {unit} (harmless, but it adds nothing).",
                file=file,
            )
        )
    return to_drop


def _nan_inf(n_nan: int, n_inf: int) -> str:
    return ", ".join(t for t in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf else "") if t)


def _impute(data: np.ndarray, finite: np.ndarray, axes: tuple[int, ...]) -> None:
    """Replace non-finite values in place by the median of the finite values of their column/channel."""
    for j in range(data.shape[1]):
        values, ok = data[:, j], finite[:, j]
        if not ok.all() and ok.any():
            values[~ok] = np.median(values[ok])


def check_covariates(
    root: Path, manifest: Manifest, subject_ids: np.ndarray, problems: list[Problem]
) -> pd.DataFrame | None:
    """The manifest's covariates table indexed by subject ID (None when it declares none or it cannot be read),
    adding what is wrong with it to `problems`; subjects in `subject_ids` without a row are a warning."""
    spec = manifest.covariates
    if spec is None:
        return None
    path = root / spec.path
    if not path.exists():  # a pipe or device exists too: the loader refuses it by name
        problems.append(_missing_file(root, spec.path, "[covariates]"))
        return None
    found: list[Problem] = []
    frame = None
    try:
        frame = load_covariates(path, manifest.id, found)
    except LoadError:
        pass
    except Exception as error:  # noqa: BLE001
        found.append(_unreadable(spec.path, "a covariates table (.csv or .parquet)", error))
    problems.extend(_relative(p, root) for p in found)
    if frame is None:
        return None
    _duplicates(frame.index.to_numpy(dtype=str), spec.path, problems)
    if frame.shape[1] == 0:
        problems.append(
            Problem(
                "warning",
                "no_covariates",
                "has only the ID column: there are no covariates to show.",
                "add columns (age, sex, ...) or remove the [covariates] table.",
                file=spec.path,
            )
        )
    present = set(frame.index.tolist())
    lacking = [s for s in subject_ids.tolist() if s not in present]
    if lacking:
        problems.append(
            Problem(
                "warning",
                "covariates_missing_rows",
                f"{plural(len(lacking), 'subject')} {verb(len(lacking), 'has', 'have')} no row here; their covariates will be empty (NaN): "
                f"{listing(lacking)}.",
                "add a row for each subject if their covariates are known.",
                file=spec.path,
            )
        )
    return frame
