"""Display names for learned latents: readable defaults, plain names from ground truth, user edits in names.json.

A run's latents are called `<modality>.z<k>` on disk (docs/run-folder.md); people read "Sleep 1" or
"apnea severity" better. Edited names live in `<run>/names.json` ({"names": {latent: display name}}), so they
travel with the run and never touch latents.csv or graph.csv, which other tools read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from crl.data.features import correlation
from crl.data.labels import Labels, readable_name
from crl.data.text import one_line as _flat
from crl.data.truth import load_truth
from crl.errors import CrlError, RunError
from crl.graphs.names import split_latent_name
from crl.runs.files import NAMES_FILE, atomic_write_text  # noqa: F401 - NAMES_FILE: callers import it here
from crl.runs.run import Run

MAX_LENGTH = 60
# A learned latent borrows a true latent's plain name only when it tracks that latent this closely (|corr|):
# below it the name would claim more than the model recovered.
PLAIN_NAME_MIN_CORRELATION = 0.5
REVERSED = " (reversed)"


def modality_title(modality: str, labels: Labels | None = None) -> str:
    """ "fundus_left" -> its cohort.toml label ("Left eye photograph") when `labels` has one, else "Fundus left"."""
    return labels.modality(modality) if labels is not None else readable_name(modality)


def default_name(latent: str, labels: Labels | None = None) -> str:
    """ "sleep.z0" -> "Sleep 1" ("Home sleep test 1" with its label): the modality in words and a 1-based number."""
    try:
        modality, k = split_latent_name(latent)
    except CrlError:
        return latent
    return f"{modality_title(modality, labels)} {k + 1}"


def default_names(latents: Sequence[str], labels: Labels | None = None) -> dict[str, str]:
    return {name: default_name(name, labels) for name in latents}


def plain_names(cohort: Path, latents: pd.DataFrame | None = None) -> dict[str, str]:
    """Learned latent -> plain name from `<cohort>/truth/latent_names.csv` (columns latent, name), if any.

    Learned latents are only identified up to order within a modality, so with `latents` (the run's learned
    latents, indexed by subject_id) each learned latent takes the name of the true latent it is matched to
    within its modality (Hungarian matching on |correlation|), and only when that correlation reaches
    PLAIN_NAME_MIN_CORRELATION; a latent that falls as its cause rises is named "<cause> (reversed)". Without `latents`, names carry over by identical column name.
    """
    path = Path(cohort) / "truth" / "latent_names.csv"
    if not path.is_file():
        return {}
    try:
        table = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        return {}
    if not {"latent", "name"} <= set(table.columns):
        return {}
    plain = {
        str(k).strip(): clean_name(v)
        for k, v in zip(table["latent"], table["name"], strict=False)
        if isinstance(v, str)
    }
    plain = {k: v for k, v in plain.items() if v}
    if latents is None:
        return plain
    try:
        truth = load_truth(Path(cohort))
    except CrlError:
        return {}
    return _matched_names(latents, truth.latents, plain)


def _matched_names(learned: pd.DataFrame, true: pd.DataFrame, plain: Mapping[str, str]) -> dict[str, str]:
    common = learned.index.intersection(true.index)
    if len(common) < 20:
        return {}
    out: dict[str, str] = {}
    for modality in dict.fromkeys(_modality(c) for c in learned.columns):
        est_cols = [c for c in learned.columns if _modality(c) == modality]
        true_cols = [c for c in true.columns if _modality(c) == modality]
        if not est_cols or not true_cols:
            continue
        corr = correlation(
            true.loc[common, true_cols].to_numpy(float), learned.loc[common, est_cols].to_numpy(float)
        )
        rows, cols = linear_sum_assignment(-np.abs(corr))
        for t, e in zip(rows, cols, strict=False):
            if abs(corr[t, e]) >= PLAIN_NAME_MIN_CORRELATION and true_cols[t] in plain:
                out[str(est_cols[e])] = signed_name(plain[true_cols[t]], corr[t, e])
    return out


def signed_name(name: str, corr: float) -> str:
    """The plain name, marked "(reversed)" when the learned latent falls as the named cause rises.

    Latents are oriented by the observed feature they move most with (crl.engine.orientation), which
    usually agrees with the named cause; when it does not, the name must say so or every arrow reads backwards.
    """
    if corr >= 0:
        return name
    return f"{name[: MAX_LENGTH - len(REVERSED)]}{REVERSED}"


def _modality(name: object) -> str | None:
    try:
        return split_latent_name(str(name))[0]
    except CrlError:
        return None


def clean_name(text: object) -> str:
    """A display name as typed, trimmed: no control characters, single-line, at most MAX_LENGTH characters."""
    return _flat(text)[:MAX_LENGTH]


def blank_names(names: Mapping[str, object]) -> list[str]:
    """The latents in `names` whose name is empty once cleaned (nothing, spaces, control characters only):
    save_names gives them their default name back, and the editor says so."""
    return [latent for latent, name in names.items() if not clean_name(name)]


def load_names(run: Path, defaults: Mapping[str, str]) -> dict[str, str]:
    """`defaults` (latent -> name) overridden by the run's names.json; unknown latents there are ignored.

    A damaged names.json raises RunError (the page says how to fix it) rather than silently dropping edits.
    """
    names = dict(defaults)
    path = Run(run).names_file
    if not path.is_file():
        return names
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise RunError(
            f"{path} is not readable JSON ({error}); delete it to go back to the default latent names"
        ) from None
    entries = stored.get("names") if isinstance(stored, dict) else None
    if not isinstance(entries, dict):
        raise RunError(f'{path} has no "names" object; delete it to go back to the default latent names')
    for latent, name in entries.items():
        if latent in names and clean_name(name):
            names[latent] = clean_name(name)
    return names


def save_names(run: Path, names: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    """Writes `<run>/names.json` atomically and returns the names in force (blank entries fall back to defaults).

    Two latents may not share a display name: the graph, tables and exports would become ambiguous. A name
    longer than MAX_LENGTH characters is refused rather than cut, so nobody saves a name they did not see.
    """
    too_long = [
        (latent, _flat(name))
        for latent, name in names.items()
        if latent in defaults and len(_flat(name)) > MAX_LENGTH
    ]
    if too_long:
        listing = "; ".join(
            f"{defaults[latent]} has {len(name)} ('{name[:24]}…')" for latent, name in too_long
        )
        raise CrlError(
            f"a display name may have at most {MAX_LENGTH} characters: {listing}; shorten it and save again"
        )
    final = dict(defaults)
    for latent, name in names.items():
        if latent in final and clean_name(name):
            final[latent] = clean_name(name)
    seen: dict[str, str] = {}
    for latent, name in final.items():
        key = name.casefold()
        if key in seen:
            raise CrlError(f"'{name}' names both {seen[key]} and {latent}; give each latent its own name")
        seen[key] = latent
    run = Path(run)
    payload = {"names": {k: v for k, v in final.items() if v != defaults.get(k)}}
    try:
        text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
        atomic_write_text(Run(run).names_file, text, make_parents=False)  # never create a missing run folder
    except OSError as error:
        raise RunError(
            f"could not save names in {run} ({error.strerror or error}); "
            "copy the run folder somewhere writable or check its permissions"
        ) from None
    return final
