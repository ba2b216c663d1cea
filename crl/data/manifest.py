"""The cohort manifest (`cohort.toml`) read into frozen dataclasses, and the `Problem` records reading reports."""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from crl.config import MAX_LATENTS
from crl.data.cohort import KINDS
from crl.data.manifest_labels import (
    DISPLAY_KEYS,
    NAMES_KEY,
    Label,
    TimeStep,
    names_table_text,
    read_display,
    read_names,
)
from crl.data.manifest_omics import OMICS_KEYS, check_omics_keys

MANIFEST_FILE = "cohort.toml"
DEFAULT_LATENTS = 2
DEFAULT_TIME = "time"
NAN_POLICIES = ("error", "drop", "impute")
LENGTH_POLICIES = ("error", "pad", "crop", "resample")

TOP_KEYS = ("name", "id", "modalities", "covariates")
COMMON_MODALITY_KEYS = ("kind", "path", "latents", "nan_policy", "label")
KIND_KEYS = {
    "tabular": (*COMMON_MODALITY_KEYS, "columns", *OMICS_KEYS),
    "timeseries": (*COMMON_MODALITY_KEYS, "time", "length_policy", "time_step", "channels"),
    "image": ("kind", "path", "latents", "label"),
}
COVARIATE_KEYS = ("path", "columns")
# A modality's name names its latents (`<modality>.z<k>`), files, graph nodes and exports: letters (any
# script), digits, spaces, '-' and '_' keep it unambiguous and safe in CSV, XML, HTML and file names alike.
MAX_MODALITY_NAME = 40
MODALITY_NAME_RULE = "letters, digits, spaces, '-' and '_' only, at most 40 characters"
# A source's path stays inside the cohort folder (docs/cohort-format.md, "Paths"); a symbolic link inside the
# folder may still point elsewhere, at a regular file or folder.
PATH_FIX = (
    "put the file inside the cohort folder (or a sub-folder of it) and give its path from there, "
    'e.g. path = "labs.csv"; a symbolic link inside the folder may point elsewhere.'
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a cohort, with where it is and how to fix it.

    severity: "error" (the cohort cannot be trained on) or "warning" (it can, but look).
    check: a stable name for the check that found it (e.g. "duplicate_ids"), for programs and tests.
    """

    severity: str
    check: str
    message: str
    fix: str = ""
    file: str | None = None
    column: str | None = None
    subject: str | None = None

    @property
    def where(self) -> str:
        """`file, column 'c', subject 's'`, or `cohort` when the problem has no single place."""
        parts = [self.file] if self.file else []
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        if self.subject is not None:
            parts.append(f"subject '{self.subject}'")
        return ", ".join(parts) or "cohort"

    def line(self) -> str:
        """One plain line for a terminal."""
        text = f"{self.severity}: {self.where}: {self.message}"
        return f"{text} Fix: {self.fix}" if self.fix else text

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "check": self.check,
            "where": self.where,
            "file": self.file,
            "column": self.column,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class ModalitySpec:
    """One `[modalities.<name>]` table. `options` holds every key of the table beyond the named fields.

    label, feature_labels (column or channel -> Label) and time_step: display keys (crl.data.manifest_labels).
    """

    name: str
    kind: str
    path: str
    latents: int = DEFAULT_LATENTS
    time: str = DEFAULT_TIME
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    feature_labels: dict[str, Label] = field(default_factory=dict)
    time_step: TimeStep | None = None


@dataclass(frozen=True)
class CovariatesSpec:
    """The optional `[covariates]` table: observed clinical variables, shown as graph nodes, not encoded."""

    path: str
    options: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # column -> its display label and unit


@dataclass(frozen=True)
class Manifest:
    """A parsed `cohort.toml`; `modalities` keeps the file's order and only the modalities that can be loaded."""

    name: str
    id: str
    modalities: dict[str, ModalitySpec]
    covariates: CovariatesSpec | None = None


def manifest_text(
    name: str,
    id_column: str,
    modalities: dict[str, dict[str, Any]],
    covariates_path: str | None = None,
    covariate_labels: dict[str, dict[str, str]] | None = None,
) -> str:
    """The cohort.toml for these settings, written by tomli-w so any name (quotes, dots, commas) stays valid TOML.

    modalities: name -> its keys in manifest order, e.g. {"labs": {"kind": "tabular", "path": "labs.csv"}};
        a `columns` / `channels` table of labels is written one inline table a name.
    covariate_labels: column -> {"label": ..., "unit": ...}, written as [covariates.columns].
    """
    names_keys = set(NAMES_KEY.values())
    parts = [tomli_w.dumps({"name": name, "id": id_column})]
    for modality, keys in modalities.items():
        parts.append(
            tomli_w.dumps({"modalities": {modality: {k: v for k, v in keys.items() if k not in names_keys}}})
        )
        for key in [k for k in keys if k in names_keys]:
            parts.append(names_table_text(("modalities", modality, key), keys[key]))
    if covariates_path is not None:
        parts.append(tomli_w.dumps({"covariates": {"path": covariates_path}}))
        if covariate_labels:
            parts.append(names_table_text(("covariates", "columns"), covariate_labels))
    return "\n".join(part.strip("\n") + "\n" for part in parts)


def modality_name_problem(name: str) -> str | None:
    """Why `name` cannot name a modality (one rule for the manifest and the upload page), or None if it can."""
    if not name.strip():
        return "a modality name is empty"
    if name != name.strip():
        return f"the modality name {name!r} starts or ends with a space"
    if len(name) > MAX_MODALITY_NAME:
        return f"the modality name {name!r} is longer than {MAX_MODALITY_NAME} characters"
    bad = sorted({c for c in name if not (c.isalnum() or c in " _-")})
    if bad:
        return f"the modality name {name!r} contains {', '.join(repr(c) for c in bad)}"
    return None


def path_problem(path: str) -> str | None:
    """Why a manifest path may not be used (it must be relative and stay in the cohort folder), or None."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return f"path {ascii(path)} contains a control character"
    posix = path.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return f"path {path!r} is absolute; paths are relative to the cohort folder"
    if ".." in posix.split("/"):
        return f"path {path!r} contains '..', which can lead out of the cohort folder"
    return None


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def read_manifest(root: Path) -> tuple[Manifest | None, list[Problem]]:
    """Read `root/cohort.toml`. Never raises on bad content: returns (None, problems) when nothing usable is left.

    Modalities with an unknown kind or no path are reported and left out of the returned manifest, so the
    remaining ones can still be checked.
    """
    path = Path(root) / MANIFEST_FILE
    if not path.is_file():
        return None, [
            Problem(
                "error",
                "no_manifest",
                f"no {MANIFEST_FILE} in {root}.",
                f"create {MANIFEST_FILE} naming the id column and each modality (kind, path), "
                "or point at the cohort folder that holds it.",
                file=MANIFEST_FILE,
            )
        ]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        return None, [
            Problem(
                "error",
                "unreadable_manifest",
                f"{MANIFEST_FILE} nests arrays or tables too deeply to read.",
                "a cohort manifest needs only [modalities.<name>] tables of plain keys; rewrite it like the "
                "example in docs/cohort-format.md.",
                file=MANIFEST_FILE,
            )
        ]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as error:
        return None, [
            Problem(
                "error",
                "unreadable_manifest",
                f"{MANIFEST_FILE} is not valid TOML: {error}.",
                "fix the syntax at the position given (strings need quotes, tables look like [modalities.x]).",
                file=MANIFEST_FILE,
            )
        ]
    return parse_manifest(data, default_name=Path(root).resolve().name)


def parse_manifest(
    data: dict[str, Any], default_name: str = "cohort"
) -> tuple[Manifest | None, list[Problem]]:
    """Turn the TOML tables into a `Manifest`, collecting every problem instead of stopping at the first."""
    problems: list[Problem] = []

    def report(severity: str, check: str, message: str, fix: str = "") -> None:
        problems.append(Problem(severity, check, message, fix, file=MANIFEST_FILE))

    for key in data:
        if key not in TOP_KEYS:
            report(
                "warning",
                "unknown_key",
                f"unknown key '{key}' ignored.{_suggest(key, TOP_KEYS)}",
                f"known top-level keys: {', '.join(TOP_KEYS)}.",
            )

    name = data.get("name")
    if name is None:
        name = default_name
        report("warning", "missing_key", f"no 'name'; using the folder name '{name}'.", 'add name = "...".')
    elif not isinstance(name, str) or not name.strip():
        report(
            "error", "bad_value", f"'name' must be a non-empty string, not {name!r}.", 'write name = "...".'
        )
        name = default_name

    id_column = data.get("id")
    if id_column is None:
        report(
            "error",
            "missing_key",
            "no 'id': the subject-ID column shared by every source is not named.",
            'add id = "subject_id" (the column that holds subject IDs).',
        )
    elif not isinstance(id_column, str) or not id_column.strip():
        report(
            "error",
            "bad_value",
            f"'id' must be a column name, not {id_column!r}.",
            'write id = "subject_id".',
        )
        id_column = None

    modalities: dict[str, ModalitySpec] = {}
    tables = data.get("modalities")
    if tables is None or tables == {}:
        report(
            "error",
            "missing_key",
            "no modalities: the manifest needs at least one [modalities.<name>] table.",
            'add e.g. [modalities.labs] with kind = "tabular" and path = "labs.csv".',
        )
    elif not isinstance(tables, dict):
        report(
            "error",
            "bad_value",
            "'modalities' must be a set of tables like [modalities.labs].",
            "write one [modalities.<name>] table per modality.",
        )
    else:
        for mod_name, table in tables.items():
            spec = _parse_modality(mod_name, table, problems)
            if spec is not None:
                modalities[mod_name] = spec

    covariates = None
    if "covariates" in data:
        covariates = _parse_covariates(data["covariates"], problems)

    if id_column is None or not modalities:
        return None, problems
    return Manifest(name=name, id=id_column, modalities=modalities, covariates=covariates), problems


def _parse_modality(name: str, table: Any, problems: list[Problem]) -> ModalitySpec | None:
    section = (
        f"[modalities.{name if name.isprintable() else ascii(name)}]"  # a report is one line per problem
    )

    def report(severity: str, check: str, message: str, fix: str = "") -> None:
        problems.append(Problem(severity, check, f"{section} {message}", fix, file=MANIFEST_FILE))

    if not isinstance(table, dict):
        report(
            "error",
            "bad_value",
            "must be a table of keys (kind, path, latents).",
            f"write {section} on its own line.",
        )
        return None
    usable = True
    problem = modality_name_problem(name)
    if problem:
        report(
            "error",
            "bad_name",
            f"{problem}.",
            f"rename the modality: {MODALITY_NAME_RULE} (e.g. 'fundus_left').",
        )
        usable = False

    kind = table.get("kind")
    if kind is None:
        report("error", "missing_key", "has no 'kind'.", f"add kind = one of {', '.join(KINDS)}.")
        usable = False
    elif kind not in KINDS:
        hint = _suggest(str(kind), KINDS)
        report("error", "unknown_kind", f"unknown kind {kind!r}.{hint}", f"use one of {', '.join(KINDS)}.")
        usable = False

    path = table.get("path")
    if path is None:
        report("error", "missing_key", "has no 'path'.", 'add path = "..." (relative to the cohort folder).')
        usable = False
    elif not isinstance(path, str) or not path.strip():
        report(
            "error",
            "bad_value",
            f"'path' must be a file or folder name, not {path!r}.",
            'write path = "...".',
        )
        usable = False
    elif problem := path_problem(path):
        report("error", "bad_path", f"{problem}.", PATH_FIX)
        usable = False

    latents = table.get("latents", DEFAULT_LATENTS)
    whole = _is_positive_int(latents)
    if not whole or latents > MAX_LATENTS:  # the cap validation applies to a model's latents (crl.config)
        what = "not a positive whole number" if not whole else f"more than {MAX_LATENTS}"
        report(
            "error",
            "bad_latents",
            f"latents = {latents!r} is {what}.",
            f"set latents between 1 and {MAX_LATENTS} (default {DEFAULT_LATENTS}).",
        )
        latents = DEFAULT_LATENTS

    time = table.get("time", DEFAULT_TIME)
    if not isinstance(time, str) or not time.strip():
        report("error", "bad_value", f"'time' must be a column name, not {time!r}.", 'write time = "time".')
        time = DEFAULT_TIME

    for key, allowed in (("nan_policy", NAN_POLICIES), ("length_policy", LENGTH_POLICIES)):
        if key in table and table[key] not in allowed:
            report(
                "error",
                "bad_value",
                f"{key} = {table[key]!r} is not one of {', '.join(allowed)}.",
                f"use one of {', '.join(allowed)}.",
            )
            usable = False

    if kind == "tabular":
        usable = check_omics_keys(path, table, report) and usable

    display = read_display(kind if isinstance(kind, str) else "", table, report)  # checked even if unusable

    known = KIND_KEYS.get(kind, COMMON_MODALITY_KEYS) if isinstance(kind, str) else COMMON_MODALITY_KEYS
    for key in table:
        if key not in known:
            report(
                "warning",
                "unknown_key",
                f"unknown key '{key}' ignored.{_suggest(key, known)}",
                f"known keys for kind {kind!r}: {', '.join(known)}.",
            )

    if not usable:
        return None
    options = {k: v for k, v in table.items() if k not in ("kind", "path", "latents", "time", *DISPLAY_KEYS)}
    return ModalitySpec(
        name=name, kind=kind, path=path, latents=latents, time=time, options=options, **display
    )


def _parse_covariates(table: Any, problems: list[Problem]) -> CovariatesSpec | None:
    def report(severity: str, check: str, message: str, fix: str = "") -> None:
        problems.append(Problem(severity, check, f"[covariates] {message}", fix, file=MANIFEST_FILE))

    if not isinstance(table, dict):
        report(
            "error",
            "bad_value",
            "must be a table with a 'path'.",
            'write [covariates] then path = "clinical.csv".',
        )
        return None
    for key in table:
        if key not in COVARIATE_KEYS:
            report(
                "warning",
                "unknown_key",
                f"unknown key '{key}' ignored.{_suggest(key, COVARIATE_KEYS)}",
                "the covariates table takes only 'path' and 'columns'.",
            )
    path = table.get("path")
    if path is None:
        report("error", "missing_key", "has no 'path'.", 'add path = "clinical.csv".')
        return None
    if not isinstance(path, str) or not path.strip():
        report(
            "error", "bad_value", f"'path' must be a file name, not {path!r}.", 'write path = "clinical.csv".'
        )
        return None
    if problem := path_problem(path):
        report("error", "bad_path", f"{problem}.", PATH_FIX.replace("labs.csv", "clinical.csv"))
        return None
    labels = read_names(table["columns"], "columns", report) if "columns" in table else {}
    options = {k: v for k, v in table.items() if k not in COVARIATE_KEYS}
    return CovariatesSpec(path=path, options=options, labels=labels)
