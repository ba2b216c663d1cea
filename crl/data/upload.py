"""Build a cohort folder from uploaded files and the user's description of each: checked, size-limited, atomic.

The dashboard hands over bytes (it never trusts a file name as a path): `inspect_upload` says what a file
holds so the page can offer sensible choices, and `build_cohort` writes the folder and its `cohort.toml`
(CONTRACTS.md §1). Everything the user can get wrong raises `UploadError` with what to do instead.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from crl.data.cohort import KINDS
from crl.data.loaders import IMAGE_SUFFIXES, listing
from crl.data.manifest import DEFAULT_LATENTS, LENGTH_POLICIES, MANIFEST_FILE, NAN_POLICIES
from crl.errors import CrlError

MB = 1024 * 1024
MAX_FILE_BYTES = 200 * MB  # matches .streamlit/config.toml maxUploadSize
MAX_ZIP_MEMBERS = 50_000
MAX_UNPACKED_BYTES = 2 * 1024 * MB  # a zip (or .npz) may not unpack to more than this
MAX_LATENTS = 32
MAX_NAME_LENGTH = 40
SAMPLE_ROWS = 5_000  # rows read to describe a table; enough to tell a long table from a wide one

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
UPLOAD_SUFFIXES = (*TABLE_SUFFIXES, ".npz", ".zip")
DEFAULT_ID = "subject_id"

_ID_NAMES = ("subject_id", "subject", "participant_id", "participant", "patient_id", "patient", "id", "eid")
_TIME_WORDS = ("time", "date", "day", "hour", "minute", "second", "step", "night", "visit", "epoch", "t")


class UploadError(CrlError):
    """An uploaded file, or what the user said about it, cannot become a cohort; the message says what to do."""


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the user's computer gave it (never used as a path) and its bytes."""

    filename: str
    data: bytes = field(repr=False)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.filename.replace("\\", "/")).suffix.lower()

    @property
    def stem(self) -> str:
        return PurePosixPath(self.filename.replace("\\", "/")).stem


@dataclass(frozen=True)
class UploadSummary:
    """What an uploaded file holds, for offering choices before the cohort is built.

    format: "table" (.csv/.parquet), "npz" or "zip" (of images).
    columns: a table's columns, an .npz's array names; empty for a zip.
    repeated_ids: the suggested ID column repeats within the rows read (a long time-series table).
    """

    filename: str
    format: str
    size: int
    columns: tuple[str, ...] = ()
    rows_read: int = 0
    n_images: int = 0
    kind: str = "tabular"
    id_column: str | None = None
    time_column: str | None = None
    repeated_ids: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceChoice:
    """What the user said one uploaded file is.

    id_column: the subject-ID column of a table (ignored for .npz and image zips, whose IDs are built in).
    time_column: the time column of a long time-series table.
    nan_policy / length_policy: written to the manifest when not "error" (see `validate_cohort`): what to do
    with missing values (tables, time series) and with series of unequal length (time series).
    """

    upload: Upload
    modality: str
    kind: str
    id_column: str | None = None
    time_column: str | None = None
    latents: int = DEFAULT_LATENTS
    nan_policy: str = "error"
    length_policy: str = "error"


@dataclass(frozen=True)
class CovariatesChoice:
    """The optional table of observed clinical variables and its subject-ID column."""

    upload: Upload
    id_column: str | None


# ---------------------------------------------------------------------------------------------- names


def folder_name(name: str) -> str:
    """A safe folder name for a cohort name the user typed: letters, digits, '-' and '_' only."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_").lower()[:MAX_NAME_LENGTH]
    if not slug:
        raise UploadError(
            f"the cohort name {name!r} has no letters or digits to name its folder with; "
            "type a name such as 'eye-study-2024'."
        )
    return slug


def suggested_modality(filename: str) -> str:
    """A modality name from a file name: `Fundus Left.zip` -> `fundus_left`."""
    stem = PurePosixPath(str(filename).replace("\\", "/")).stem
    slug = re.sub(
        r"[^0-9A-Za-z]+", "_", unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    )
    slug = slug.strip("_").lower()[:MAX_NAME_LENGTH]
    return slug if slug and not slug[0].isdigit() else f"m_{slug}" if slug else "modality"


def check_modality_name(name: str) -> str:
    """The name stripped, or UploadError: it names latents (`<name>.z0`), so no dots and nothing invisible."""
    clean = str(name).strip()
    if not clean:
        raise UploadError("a modality has no name; give each uploaded file a short name such as 'labs'.")
    if len(clean) > MAX_NAME_LENGTH:
        raise UploadError(
            f"the modality name {clean!r} is longer than {MAX_NAME_LENGTH} characters; shorten it."
        )
    bad = sorted({c for c in clean if not (c.isalnum() or c in " _-")})
    if bad:
        raise UploadError(
            f"the modality name {clean!r} contains {', '.join(repr(c) for c in bad)}; "
            "use letters, digits, spaces, '-' and '_' only (e.g. 'fundus_left')."
        )
    return clean


# ------------------------------------------------------------------------------------------- inspect


def _megabytes(n_bytes: float) -> str:
    return f"{n_bytes / MB:,.0f} MB" if n_bytes >= 10 * MB else f"{n_bytes / MB:.2g} MB"


def check_size(upload: Upload, limit: int | None = None) -> None:
    """UploadError when the file is over `limit` bytes (default MAX_FILE_BYTES)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    if len(upload.data) > limit:
        raise UploadError(
            f"{upload.filename} is {_megabytes(len(upload.data))}; the limit is {_megabytes(limit)} per file. "
            "Save it as .parquet (smaller than .csv), split the images into several zips, or put the cohort "
            "in a folder on the server and open it with 'Folder on this server'."
        )


def inspect_upload(upload: Upload) -> UploadSummary:
    """Describe an uploaded file and suggest its kind, ID column and time column; UploadError if unusable."""
    check_size(upload)
    suffix = upload.suffix
    if suffix in TABLE_SUFFIXES:
        return _inspect_table(upload)
    if suffix == ".npz":
        return _inspect_npz(upload)
    if suffix == ".zip":
        images, skipped = _image_members(upload)
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


def _read_table(upload: Upload, nrows: int | None = None, text: bool = False) -> pd.DataFrame:
    """The table in an upload (all cells as text when `text`, so writing it back changes nothing)."""
    buffer = io.BytesIO(upload.data)
    try:
        if upload.suffix == ".csv":
            options = {"dtype": str, "keep_default_na": False} if text else {}
            return pd.read_csv(buffer, nrows=nrows, **options)
        import pyarrow.parquet as pq

        table = pq.ParquetFile(buffer)
        if nrows is None:
            return table.read().to_pandas()
        batches = table.iter_batches(batch_size=nrows)
        first = next(batches, None)
        return first.to_pandas() if first is not None else table.schema_arrow.empty_table().to_pandas()
    except Exception as error:  # noqa: BLE001 - a reader failure is a file the user must fix
        what = "CSV" if upload.suffix == ".csv" else "Parquet"
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise UploadError(
            f"{upload.filename} cannot be read as {what} ({type(error).__name__}: {first_line}). "
            "Check it opens in a spreadsheet program and is saved in the format its name says."
        ) from None


def _guess_id(columns: Sequence[str]) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    for name in _ID_NAMES:
        if name in lower:
            return lower[name]
    ending = [c for c in columns if re.search(r"(^|[_\s])id$", c.lower().strip())]
    return ending[0] if ending else None


def _guess_time(columns: Sequence[str], id_column: str | None) -> str | None:
    for column in columns:
        words = re.split(r"[^a-z]+", column.lower())
        if column != id_column and any(w in _TIME_WORDS for w in words if w):
            return column
    return None


def _inspect_table(upload: Upload) -> UploadSummary:
    frame = _read_table(upload, nrows=SAMPLE_ROWS)
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


def _open_zip(upload: Upload) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(upload.data))
    except zipfile.BadZipFile:
        what = "an .npz (a zip of arrays)" if upload.suffix == ".npz" else "a zip archive"
        raise UploadError(f"{upload.filename} is not {what}, or it is damaged; save it again.") from None


def _check_unpacked(upload: Upload, members: Sequence[zipfile.ZipInfo]) -> None:
    if len(members) > MAX_ZIP_MEMBERS:
        raise UploadError(
            f"{upload.filename} holds {len(members):,} files; at most {MAX_ZIP_MEMBERS:,} are accepted. "
            "Split it into several zips or use 'Folder on this server'."
        )
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED_BYTES:
        raise UploadError(
            f"{upload.filename} would unpack to {_megabytes(total)}; at most {_megabytes(MAX_UNPACKED_BYTES)} "
            "are accepted. Use 'Folder on this server' for data this large."
        )


def _inspect_npz(upload: Upload) -> UploadSummary:
    with _open_zip(upload) as archive:
        members = archive.infolist()
        _check_unpacked(upload, members)
        names = tuple(PurePosixPath(m.filename).stem for m in members if m.filename.endswith(".npy"))
    if "ids" not in names:
        raise UploadError(
            f"{upload.filename} has arrays {listing(names, 8) or 'none'} but no 'ids' (one subject ID per row). "
            "Save it with numpy.savez(path, ids=..., values=...) for time series or images=... for images."
        )
    kind = "image" if "images" in names else "timeseries"
    return UploadSummary(upload.filename, "npz", len(upload.data), columns=names, kind=kind)


def _unsafe_reason(member: zipfile.ZipInfo) -> str | None:
    """Why a zip entry must not be unpacked (it could land outside its folder), or None."""
    name = member.filename
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if any(part == ".." for part in re.split(r"[/\\]", name)):
        return "a path that leaves its folder ('..')"
    return None


def _image_members(upload: Upload) -> tuple[dict[str, zipfile.ZipInfo], list[str]]:
    """The image entries of a zip keyed by subject ID (file name without extension), and the ignored names.

    Refuses the whole zip when any entry is unsafe, when two images give the same subject, or when it is too
    big; images may sit in sub-folders (a zipped folder), only their file names count.
    """
    with _open_zip(upload) as archive:
        members = archive.infolist()
    _check_unpacked(upload, members)
    unsafe = [(m.filename, reason) for m in members if (reason := _unsafe_reason(m))]
    if unsafe:
        name, reason = unsafe[0]
        more = f" ({len(unsafe) - 1} more like it)" if len(unsafe) > 1 else ""
        raise UploadError(
            f"{upload.filename} was refused: it holds {name!r}, {reason}{more}. Zip only the image files "
            "(or one folder of them) and upload again."
        )
    images: dict[str, zipfile.ZipInfo] = {}
    skipped: list[str] = []
    for member in members:
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if member.is_dir() or "__MACOSX" in path.parts or path.name.startswith("."):
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(path.name)
            continue
        subject = path.stem.strip()
        if subject in images:
            raise UploadError(
                f"{upload.filename} holds two images for subject '{subject}' ({images[subject].filename} and "
                f"{member.filename}); keep one image per subject, named <subject_id>.png."
            )
        images[subject] = member
    if not images:
        raise UploadError(
            f"{upload.filename} holds no .png or .jpg images; zip one image per subject, named <subject_id>.png."
        )
    return images, skipped


# --------------------------------------------------------------------------------------------- build


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
            base = _unique_file_stem(choice.modality, used)
            path = _write_source(choice, staging, base, id_name)
            entries.append((choice, path))
        covariates_path = None
        if covariates is not None:
            covariates_path = _write_covariates(
                covariates, staging, _unique_file_stem("covariates", used), id_name
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
        columns = listing(_read_table(upload, nrows=0).columns, 8)
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


def _unique_file_stem(name: str, used: set[str]) -> str:
    base = re.sub(
        r"[^A-Za-z0-9_-]+", "_", unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    )
    base = base.strip("_").lower() or "modality"
    stem, k = base, 2
    while stem in used:
        stem, k = f"{base}_{k}", k + 1
    used.add(stem)
    return stem


def _table_with_id(upload: Upload, id_column: str, id_name: str, time: Sequence[str] = ()) -> pd.DataFrame:
    """The whole table with its ID column renamed to the cohort's; UploadError when a chosen column is missing.

    A CSV is read as text and written back as text, so no number or ID changes on the way ("007" stays).
    """
    frame = _read_table(upload, text=upload.suffix == ".csv")
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
        with _open_zip(upload) as archive:
            _check_unpacked(upload, archive.infolist())
        target = f"{base}.npz"
        (root / target).write_bytes(upload.data)
        return target
    images, _ = _image_members(upload)
    folder = root / base
    folder.mkdir()
    budget = MAX_UNPACKED_BYTES
    with _open_zip(upload) as archive:
        for subject, member in images.items():
            suffix = PurePosixPath(member.filename).suffix.lower()
            budget -= _copy_member(
                archive, member, folder / f"{_safe_file_name(subject)}{suffix}", budget, upload
            )
    return base


def _safe_file_name(subject: str) -> str:
    """A subject ID as a file name: path separators and control characters cannot appear (checked upstream)."""
    if subject in ("", ".", "..") or any(c in subject for c in "/\\\x00"):
        raise UploadError(f"an image is named {subject!r}, which cannot be a subject ID; rename it.")
    return subject


def _copy_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int, upload: Upload
) -> int:
    """Unpack one entry, counting real bytes (a zip's stated sizes can lie); return bytes written."""
    written = 0
    with archive.open(member) as source, open(target, "wb") as sink:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > budget:
                raise UploadError(
                    f"{upload.filename} unpacks to more than {_megabytes(MAX_UNPACKED_BYTES)}; "
                    "use 'Folder on this server' for data this large."
                )
            sink.write(chunk)
    return written


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


def _toml_string(text: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes for quotes, backslashes and controls).
    return json.dumps(str(text), ensure_ascii=False)


def _manifest_text(
    title: str, id_name: str, entries: list[tuple[SourceChoice, str]], covariates_path: str | None
) -> str:
    lines = [
        "# Written by the crl dashboard from uploaded files.",
        f"name = {_toml_string(title)}",
        f"id = {_toml_string(id_name)}",
        "",
    ]
    for choice, path in entries:
        lines += [
            f"[modalities.{_toml_string(choice.modality)}]",
            f"kind = {_toml_string(choice.kind)}",
            f"path = {_toml_string(path)}",
            f"latents = {int(choice.latents)}",
        ]
        if choice.kind == "timeseries" and choice.upload.suffix in TABLE_SUFFIXES:
            lines.append(f"time = {_toml_string(choice.time_column)}")
        if choice.kind != "image" and choice.nan_policy != "error":
            lines.append(f"nan_policy = {_toml_string(choice.nan_policy)}")
        if choice.kind == "timeseries" and choice.length_policy != "error":
            lines.append(f"length_policy = {_toml_string(choice.length_policy)}")
        lines.append("")
    if covariates_path:
        lines += ["[covariates]", f"path = {_toml_string(covariates_path)}", ""]
    return "\n".join(lines)


def _replace(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`, moving an existing `out` aside first so `out` is never half-written."""
    if out.exists() and not out.is_dir():
        raise UploadError(f"{out} exists and is a file; choose another cohort name.")
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        old.rmdir()
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out)
