"""Writing the cohort folder: check each choice against its file, write the sources under one ID column name,
write `cohort.toml`, and swap the folder into place atomically."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from crl.config import MAX_LATENTS
from crl.data.cohort import KINDS
from crl.data.folders import replace_folder
from crl.data.loaders import listing
from crl.data.manifest import LENGTH_POLICIES, MANIFEST_FILE, NAN_POLICIES, manifest_text
from crl.data.upload.choices import (
    DEFAULT_ID,
    TABLE_SUFFIXES,
    CovariatesChoice,
    SourceChoice,
    Upload,
    UploadError,
)
from crl.data.upload.names import check_modality_name, unique_file_stem
from crl.data.upload.reading import (
    check_npz,
    check_size,
    image_members,
    open_zip,
    read_table,
    unpack_images,
    verify_members,
)


def build_cohort(
    name: str,
    sources: Sequence[SourceChoice],
    out: Path,
    *,
    covariates: CovariatesChoice | None = None,
) -> Path:
    """Write a cohort folder at `out` from uploaded files and return it; an existing `out` is replaced.

    Every table gets the same subject-ID column name (the first table's, so the manifest has one `id`);
    image zips are unpacked to `<modality>/<subject_id>.png`. The folder is assembled in a hidden sibling
    and renamed into place, so `out` is always a complete cohort or the previous one. Raises UploadError
    (nothing written) when a choice does not fit its file.
    """
    out = Path(out)
    title = str(name).strip()
    if not title:
        raise UploadError("the cohort has no name; type one (it names the folder the cohort is saved in).")
    if not sources:
        raise UploadError("no data files: upload at least one file per modality.")
    checked = [_check_choice(choice) for choice in sources]
    _check_unique([c.modality for c in checked])
    tables = [c for c in checked if c.upload.suffix in TABLE_SUFFIXES]
    if tables:
        id_name = tables[0].id_column or DEFAULT_ID
    elif covariates is not None and covariates.id_column:
        id_name = covariates.id_column
    else:
        id_name = DEFAULT_ID

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as error:
        raise _unwritable(out, error) from None
    try:
        staging.chmod(0o755)
        entries = []
        used: set[str] = set()
        for choice in checked:
            base = unique_file_stem(choice.modality, used)
            path = _write_source(choice, staging, base, id_name)
            entries.append((choice, path))
        covariates_path = None
        if covariates is not None:
            covariates_path = _write_covariates(
                covariates, staging, unique_file_stem("covariates", used), id_name
            )
        manifest = _manifest_text(title, id_name, entries, covariates_path)
        (staging / MANIFEST_FILE).write_text(manifest, encoding="utf-8")
        _replace(staging, out)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise _unwritable(out, error) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _unwritable(out: Path, error: OSError) -> UploadError:
    return UploadError(
        f"could not write the cohort folder {out} ({error.strerror or error}); check there is free disk "
        "space and that the dashboard may write there (set CRL_CACHE to another folder if not)."
    )


def _check_choice(choice: SourceChoice) -> SourceChoice:
    upload = choice.upload
    check_size(upload)
    modality = check_modality_name(choice.modality)
    if choice.kind not in KINDS:
        raise UploadError(f"{upload.filename}: kind {choice.kind!r} is not one of {', '.join(KINDS)}.")
    latents = choice.latents
    if isinstance(latents, bool) or not isinstance(latents, int) or not 1 <= latents <= MAX_LATENTS:
        raise UploadError(
            f"{upload.filename}: the number of latents must be a whole number from 1 to {MAX_LATENTS}, not {latents!r}."
        )
    suffix = upload.suffix
    allowed = {
        "tabular": TABLE_SUFFIXES,
        "timeseries": (*TABLE_SUFFIXES, ".npz"),
        "image": (".zip", ".npz"),
    }[choice.kind]
    if suffix not in allowed:
        needs = {
            "tabular": "a .csv or .parquet table with one row per subject",
            "timeseries": "a long .csv/.parquet table (ID, time, one column per channel) or an .npz",
            "image": "a .zip of .png/.jpg images named by subject ID, or an .npz with 'ids' and 'images'",
        }[choice.kind]
        raise UploadError(f"{upload.filename} cannot be a {choice.kind} modality: that needs {needs}.")
    if suffix in TABLE_SUFFIXES and not choice.id_column:
        columns = listing(read_table(upload, nrows=0).columns, 8)
        raise UploadError(
            f"{upload.filename}: choose which column holds the subject IDs (its columns: {columns}); "
            "every row needs one, and the same IDs must be used in every file."
        )
    if choice.kind == "timeseries" and suffix in TABLE_SUFFIXES and not choice.time_column:
        raise UploadError(f"{upload.filename}: choose which column holds the time of each row.")
    for key, value, allowed in (
        ("missing values", choice.nan_policy, NAN_POLICIES),
        ("unequal lengths", choice.length_policy, LENGTH_POLICIES),
    ):
        if value not in allowed:
            raise UploadError(
                f"{upload.filename}: {key} policy {value!r} is not one of {', '.join(allowed)}."
            )
    return dataclasses.replace(choice, modality=modality)


def _check_unique(names: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in names:
        key = name.lower()
        if key in seen:
            raise UploadError(
                f"two files are both called modality {name!r}; give each uploaded file its own modality name."
            )
        seen[key] = name


def _table_with_id(upload: Upload, id_column: str, id_name: str, time: Sequence[str] = ()) -> pd.DataFrame:
    """The whole table with its ID column renamed to the cohort's; UploadError when a chosen column is missing.

    A CSV is read as text and written back as text, so no number or ID changes on the way ("007" stays).
    """
    frame = read_table(upload, text=upload.suffix == ".csv")
    frame.columns = [str(c) for c in frame.columns]
    for column, role in ((id_column, "subject-ID"), *((c, "time") for c in time)):
        if column not in frame.columns:
            raise UploadError(
                f"{upload.filename} has no {role} column '{column}' (its columns: {listing(frame.columns, 8)}). "
                f"Choose the column that holds the {'subject IDs' if role == 'subject-ID' else 'time'}."
            )
    if id_column != id_name:
        if id_name in frame.columns:
            raise UploadError(
                f"{upload.filename} has a column '{id_name}' besides its ID column '{id_column}', and every file "
                f"must call its ID column '{id_name}' (the first table's name). Rename or remove that column."
            )
        frame = frame.rename(columns={id_column: id_name})
    return frame


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, lineterminator="\n")
    else:
        frame.to_parquet(path, index=False)


def _table_target(base: str, upload: Upload) -> str:
    return f"{base}{'.csv' if upload.suffix == '.csv' else '.parquet'}"


def _write_source(choice: SourceChoice, root: Path, base: str, id_name: str) -> str:
    """Write one modality's source into `root`; return its path relative to `root`."""
    upload = choice.upload
    suffix = upload.suffix
    if suffix in TABLE_SUFFIXES:
        time = [choice.time_column] if choice.kind == "timeseries" and choice.time_column else []
        target = _table_target(base, upload)
        _write_table(_table_with_id(upload, choice.id_column, id_name, time), root / target)
        return target
    if suffix == ".npz":
        with open_zip(upload) as archive:
            check_npz(upload, archive)
            verify_members(upload, archive)  # checksums too: a damaged archive is refused now
        target = f"{base}.npz"
        (root / target).write_bytes(upload.data)
        return target
    images, _ = image_members(upload)
    folder = root / base
    folder.mkdir()
    unpack_images(upload, images, folder)
    return base


def _write_covariates(choice: CovariatesChoice, root: Path, base: str, id_name: str) -> str:
    upload = choice.upload
    check_size(upload)
    if upload.suffix not in TABLE_SUFFIXES:
        raise UploadError(f"{upload.filename}: the covariates must be a .csv or .parquet table.")
    if not choice.id_column:
        raise UploadError(f"{upload.filename}: choose which column of the covariates holds the subject IDs.")
    target = _table_target(base, upload)
    _write_table(_table_with_id(upload, choice.id_column, id_name), root / target)
    return target


def _manifest_text(
    title: str, id_name: str, entries: list[tuple[SourceChoice, str]], covariates_path: str | None
) -> str:
    modalities = {}
    for choice, path in entries:
        keys = {"kind": choice.kind, "path": path, "latents": int(choice.latents)}
        if choice.kind == "timeseries" and choice.upload.suffix in TABLE_SUFFIXES:
            keys["time"] = choice.time_column
        if choice.kind != "image" and choice.nan_policy != "error":
            keys["nan_policy"] = choice.nan_policy
        if choice.kind == "timeseries" and choice.length_policy != "error":
            keys["length_policy"] = choice.length_policy
        modalities[choice.modality] = keys
    header = "# Written by the crl dashboard from uploaded files.\n"
    return header + manifest_text(title, id_name, modalities, covariates_path or None)


def _replace(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`, moving an existing `out` aside first so `out` is never half-written."""
    if out.exists() and not out.is_dir():
        raise UploadError(f"{out} exists and is a file; choose another cohort name.")
    replace_folder(staging, out)
