"""Describing an uploaded file before the cohort is built: its format and columns, and a suggested kind, ID
column and time column for the page to offer."""

from __future__ import annotations

import re
from collections.abc import Sequence

from crl.data.loaders import listing
from crl.data.upload.choices import TABLE_SUFFIXES, Upload, UploadError, UploadSummary
from crl.data.upload.reading import check_npz, check_size, image_members, open_zip, read_table

SAMPLE_ROWS = 5_000  # rows read to describe a table; enough to tell a long table from a wide one

_ID_NAMES = ("subject_id", "subject", "participant_id", "participant", "patient_id", "patient", "id", "eid")
_TIME_WORDS = ("time", "date", "day", "hour", "minute", "second", "step", "night", "visit", "epoch", "t")


def inspect_upload(upload: Upload) -> UploadSummary:
    """Describe an uploaded file and suggest its kind, ID column and time column; UploadError if unusable."""
    check_size(upload)
    suffix = upload.suffix
    if suffix in TABLE_SUFFIXES:
        return _inspect_table(upload)
    if suffix == ".npz":
        return _inspect_npz(upload)
    if suffix == ".zip":
        images, skipped = image_members(upload)
        notes = (
            (f"{len(skipped)} other files in the zip will be ignored: {listing(skipped, 3)}.",)
            if skipped
            else ()
        )
        return UploadSummary(
            upload.filename, "zip", len(upload.data), n_images=len(images), kind="image", notes=notes
        )
    raise UploadError(
        f"{upload.filename}: files of type '{suffix or 'without an extension'}' cannot be used; upload "
        "tables as .csv or .parquet, arrays as .npz, and images as a .zip of .png/.jpg files."
    )


def _guess_id(columns: Sequence[str]) -> str | None:
    """The column that most likely holds subject IDs, by its name; None when none looks like one."""
    lower = {c.lower().strip(): c for c in columns}
    for name in _ID_NAMES:
        if name in lower:
            return lower[name]
    ending = [c for c in columns if re.search(r"(^|[_\s])id$", c.lower().strip())]
    return ending[0] if ending else None


def _guess_time(columns: Sequence[str], id_column: str | None) -> str | None:
    """The first column whose name has a time word in it (not the ID column), or None."""
    for column in columns:
        words = re.split(r"[^a-z]+", column.lower())
        if column != id_column and any(w in _TIME_WORDS for w in words if w):
            return column
    return None


def _inspect_table(upload: Upload) -> UploadSummary:
    frame = read_table(upload, nrows=SAMPLE_ROWS)
    columns = tuple(str(c) for c in frame.columns)
    if not columns:
        raise UploadError(f"{upload.filename} has no columns; it must have a header row naming its columns.")
    id_column = _guess_id(columns)
    repeated = bool(id_column is not None and frame[id_column].duplicated().any())
    time_column = _guess_time(columns, id_column)
    kind = "timeseries" if repeated and time_column else "tabular"
    return UploadSummary(
        upload.filename,
        "table",
        len(upload.data),
        columns=columns,
        rows_read=len(frame),
        kind=kind,
        id_column=id_column,
        time_column=time_column,
        repeated_ids=repeated,
    )


def _inspect_npz(upload: Upload) -> UploadSummary:
    with open_zip(upload) as archive:
        names = check_npz(upload, archive)
    if "ids" not in names:
        raise UploadError(
            f"{upload.filename} has arrays {listing(names, 8) or 'none'} but no 'ids' (one subject ID per row). "
            "Save it with numpy.savez(path, ids=..., values=...) for time series or images=... for images."
        )
    kind = "image" if "images" in names else "timeseries"
    return UploadSummary(upload.filename, "npz", len(upload.data), columns=names, kind=kind)
