"""Reading uploaded bytes safely: the size limits, tables, zip and .npz archives (refusing entries that could
land outside their folder, and zips that unpack to too much), and unpacking an image zip."""

from __future__ import annotations

import io
import re
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pandas as pd

from crl.data.loaders import IMAGE_SUFFIXES
from crl.data.upload.choices import Upload, UploadError

MB = 1024 * 1024
MAX_FILE_BYTES = 200 * MB  # matches .streamlit/config.toml maxUploadSize
MAX_ZIP_MEMBERS = 50_000
MAX_UNPACKED_BYTES = 2 * 1024 * MB  # a zip (or .npz) may not unpack to more than this


def megabytes(n_bytes: float) -> str:
    """`3.5 MB`, `250 MB`: a size for a message."""
    return f"{n_bytes / MB:,.0f} MB" if n_bytes >= 10 * MB else f"{n_bytes / MB:.2g} MB"


def check_size(upload: Upload, limit: int | None = None) -> None:
    """UploadError when the file is over `limit` bytes (default MAX_FILE_BYTES)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    if len(upload.data) > limit:
        raise UploadError(
            f"{upload.filename} is {megabytes(len(upload.data))}; the limit is {megabytes(limit)} per file. "
            "Save it as .parquet (smaller than .csv), split the images into several zips, or put the cohort "
            "in a folder on the server and open it with 'Folder on this server'."
        )


def read_table(upload: Upload, nrows: int | None = None, text: bool = False) -> pd.DataFrame:
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


def open_zip(upload: Upload) -> zipfile.ZipFile:
    """The upload as a zip archive (an .npz is one); UploadError when it is not one."""
    try:
        return zipfile.ZipFile(io.BytesIO(upload.data))
    except zipfile.BadZipFile:
        what = "an .npz (a zip of arrays)" if upload.suffix == ".npz" else "a zip archive"
        raise UploadError(f"{upload.filename} is not {what}, or it is damaged; save it again.") from None


def check_unpacked(upload: Upload, members: Sequence[zipfile.ZipInfo]) -> None:
    """UploadError when an archive holds too many entries or says it unpacks to too many bytes."""
    if len(members) > MAX_ZIP_MEMBERS:
        raise UploadError(
            f"{upload.filename} holds {len(members):,} files; at most {MAX_ZIP_MEMBERS:,} are accepted. "
            "Split it into several zips or use 'Folder on this server'."
        )
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED_BYTES:
        raise UploadError(
            f"{upload.filename} would unpack to {megabytes(total)}; at most {megabytes(MAX_UNPACKED_BYTES)} "
            "are accepted. Use 'Folder on this server' for data this large."
        )


def unsafe_reason(member: zipfile.ZipInfo) -> str | None:
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


def image_members(upload: Upload) -> tuple[dict[str, zipfile.ZipInfo], list[str]]:
    """The image entries of a zip keyed by subject ID (file name without extension), and the ignored names.

    Refuses the whole zip when any entry is unsafe, when two images give the same subject, or when it is too
    big; images may sit in sub-folders (a zipped folder), only their file names count.
    """
    with open_zip(upload) as archive:
        members = archive.infolist()
    check_unpacked(upload, members)
    unsafe = [(m.filename, reason) for m in members if (reason := unsafe_reason(m))]
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


def unpack_images(upload: Upload, images: dict[str, zipfile.ZipInfo], folder: Path) -> None:
    """Unpack a zip's `images` (from `image_members`) into `folder` as `<subject_id><suffix>`, at most
    MAX_UNPACKED_BYTES in all."""
    budget = MAX_UNPACKED_BYTES
    with open_zip(upload) as archive:
        for subject, member in images.items():
            suffix = PurePosixPath(member.filename).suffix.lower()
            budget -= copy_member(
                archive, member, folder / f"{safe_file_name(subject)}{suffix}", budget, upload
            )


def safe_file_name(subject: str) -> str:
    """A subject ID as a file name: path separators and control characters cannot appear (checked upstream)."""
    if subject in ("", ".", "..") or any(c in subject for c in "/\\\x00"):
        raise UploadError(f"an image is named {subject!r}, which cannot be a subject ID; rename it.")
    return subject


def copy_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int, upload: Upload
) -> int:
    """Unpack one entry, counting real bytes (a zip's stated sizes can lie); return bytes written."""
    written = 0
    with archive.open(member) as source, open(target, "wb") as sink:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > budget:
                raise UploadError(
                    f"{upload.filename} unpacks to more than {megabytes(MAX_UNPACKED_BYTES)}; "
                    "use 'Folder on this server' for data this large."
                )
            sink.write(chunk)
    return written
