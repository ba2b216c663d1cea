"""Reading uploaded bytes safely: the size limits, tables, zip and .npz archives (refusing entries that could
land outside their folder, that cannot be read, and zips that unpack to too much or to huge images), and
unpacking an image zip."""

from __future__ import annotations

import io
import lzma
import re
import stat
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pandas as pd

from crl.data.loaders import (
    IMAGE_SUFFIXES,
    MAX_IMAGE_SIDE,
    RESIZE_FIX,
    ImageTooLarge,
    csv_header,
    image_array_problem,
    listing,
    npy_header,
    read_header,
    repeated_names,
)
from crl.data.upload.choices import Upload, UploadError

MB = 1024 * 1024
MAX_FILE_BYTES = 200 * MB  # matches .streamlit/config.toml maxUploadSize
MAX_ZIP_MEMBERS = 50_000
MAX_UNPACKED_BYTES = 2 * 1024 * MB  # a zip (or .npz) may not unpack to more than this
# Compression methods Python's zipfile reads: stored, deflate, bzip2, lzma.
READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
# What reading a damaged, encrypted or oddly compressed entry raises (found by patching zips' header bytes).
_READ_ERRORS = (
    zipfile.BadZipFile,
    RuntimeError,
    NotImplementedError,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
)


def megabytes(n_bytes: float, above: float | None = None) -> str:
    """`3.5 MB`, `250 MB`: a size for a message. With `above` (a size that `n_bytes` exceeds), shown with as
    many decimals as it takes to read larger than `megabytes(above)`: `200.3 MB`, not `200 MB`."""
    text = f"{n_bytes / MB:,.0f} MB" if n_bytes >= 10 * MB else f"{n_bytes / MB:.2g} MB"
    if above is None or n_bytes <= above:
        return text

    def value(shown: str) -> float:
        return float(shown.removesuffix(" MB").replace(",", ""))

    limit = value(megabytes(above))
    if value(text) > limit:
        return text
    for decimals in range(1, 10):
        if value(number := f"{n_bytes / MB:,.{decimals}f} MB") > limit:
            return number
    return f"{n_bytes:,.0f} bytes"


def check_size(upload: Upload, limit: int | None = None) -> None:
    """UploadError when the file is over `limit` bytes (default MAX_FILE_BYTES)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    size = len(upload.data)
    if size > limit:
        raise UploadError(
            f"{upload.filename} is {megabytes(size, above=limit)}; the limit is {megabytes(limit)} per file. "
            "Save it as .parquet (smaller than .csv), split the images into several zips, or put the cohort "
            "in a folder on the server and open it with 'Folder on this server'."
        )


def read_table(upload: Upload, nrows: int | None = None, text: bool = False) -> pd.DataFrame:
    """The table in an upload (all cells as text when `text`, so writing it back changes nothing)."""
    buffer = io.BytesIO(upload.data)
    try:
        if upload.suffix == ".csv":
            repeated = repeated_names(csv_header(buffer))
            buffer.seek(0)
        else:
            import pyarrow.parquet as pq

            table = pq.ParquetFile(buffer)
            repeated = repeated_names(table.schema_arrow.names)
    except Exception as error:  # noqa: BLE001 - a reader failure is a file the user must fix
        raise _unreadable_table(upload, error) from None
    if repeated:
        # pandas would rename the copies ('ldl.1'): values could end up under a name nobody gave them.
        raise UploadError(
            f"{upload.filename} has more than one column named {listing(repr(n) for n, _ in repeated)}; give "
            "every column its own name (or delete the copies) and upload it again."
        )
    try:
        if upload.suffix == ".csv":
            options = {"dtype": str, "keep_default_na": False} if text else {}
            return pd.read_csv(buffer, nrows=nrows, **options)
        if nrows is None:
            return table.read().to_pandas()
        batches = table.iter_batches(batch_size=nrows)
        first = next(batches, None)
        return first.to_pandas() if first is not None else table.schema_arrow.empty_table().to_pandas()
    except Exception as error:  # noqa: BLE001 - a reader failure is a file the user must fix
        raise _unreadable_table(upload, error) from None


def _unreadable_table(upload: Upload, error: Exception) -> UploadError:
    what = "CSV" if upload.suffix == ".csv" else "Parquet"
    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    return UploadError(
        f"{upload.filename} cannot be read as {what} ({type(error).__name__}: {first_line}). "
        "Check it opens in a spreadsheet program and is saved in the format its name says."
    )


def open_zip(upload: Upload) -> zipfile.ZipFile:
    """The upload as a zip archive (an .npz is one); UploadError when it is not one."""
    try:
        return zipfile.ZipFile(io.BytesIO(upload.data))
    except _READ_ERRORS as error:  # not a zip, or a damaged directory ("zip file version 22.9")
        what = "an .npz (a zip of arrays)" if upload.suffix == ".npz" else "a zip archive"
        text = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise UploadError(
            f"{upload.filename} is not {what}, or it is damaged ({text}); save it again."
        ) from None


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
    if not name:  # zipfile cuts a name at its first NUL byte
        return "an entry without a name"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if any(part == ".." for part in re.split(r"[/\\]", name)):
        return "a path that leaves its folder ('..')"
    return None


def unreadable_reason(member: zipfile.ZipInfo) -> str | None:
    """Why a zip entry cannot be read, as its directory says (encrypted, an unknown compression), or None."""
    if member.flag_bits & 0x1:
        return "is encrypted (password-protected)"
    if member.compress_type not in READABLE_METHODS:
        return f"is compressed with method {member.compress_type}, which cannot be read here"
    return None


def entry_error(upload: Upload, member: zipfile.ZipInfo, reason: str) -> UploadError:
    """The message for an entry that cannot be read: the file, the entry, why, and how to make a readable one."""
    if upload.suffix == ".npz":
        fix = (
            "save the arrays again with numpy.savez or numpy.savez_compressed (no password, no other "
            "compression tool) and upload the new file"
        )
    else:
        fix = (
            "re-create the zip without a password and with standard (deflate) compression, e.g. with your "
            "computer's 'Compress' command or `zip -r`, and upload it again"
        )
    return UploadError(f"{upload.filename}: entry {member.filename!r} {reason}; {fix}.")


def _read_failure(upload: Upload, member: zipfile.ZipInfo, error: Exception) -> UploadError:
    """What reading an entry raised (zipfile's own errors), as an UploadError naming the entry."""
    reason = unreadable_reason(member)
    if reason is None:
        text = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        reason = f"is damaged ({text})"
    return entry_error(upload, member, reason)


def check_readable(upload: Upload, members: Sequence[zipfile.ZipInfo]) -> None:
    """UploadError for the first entry that its directory says cannot be read (encrypted, odd compression)."""
    for member in members:
        reason = unreadable_reason(member)
        if reason:
            raise entry_error(upload, member, reason)


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
    check_readable(upload, [m for m in members if PurePosixPath(m.filename).suffix.lower() in IMAGE_SUFFIXES])
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
    MAX_UNPACKED_BYTES in all; UploadError for an image whose header declares more than MAX_IMAGE_SIDE pixels
    a side (the header alone is read: a tiny file can declare a huge image)."""
    budget = MAX_UNPACKED_BYTES
    with open_zip(upload) as archive:
        for subject, member in images.items():
            suffix = PurePosixPath(member.filename).suffix.lower()
            target = folder / f"{safe_file_name(subject)}{suffix}"
            budget -= copy_member(archive, member, target, budget, upload)
            _check_image_size(upload, member, target)


def _check_image_size(upload: Upload, member: zipfile.ZipInfo, target: Path) -> None:
    try:
        read_header(target)
    except ImageTooLarge as error:
        pixels = (
            f"{error.size_text()} pixels (width x height)" if error.width is not None else error.size_text()
        )
        raise UploadError(
            f"{upload.filename}: entry {member.filename!r} is {pixels}; images may be at most "
            f"{MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}. Resize the images, all to one size (the image encoder is built "
            "for 28 to 128 pixels a side: 128x128 keeps training quick), and zip them again."
        ) from None
    except Exception:  # noqa: BLE001 - not an image at all: validation names the file as corrupt
        pass


def check_npz(upload: Upload, archive: zipfile.ZipFile) -> tuple[str, ...]:
    """Check an .npz's entries (count, size, readable) and its images' size from their headers; return the
    array names. Nothing beyond the .npy headers is decompressed."""
    members = archive.infolist()
    check_unpacked(upload, members)
    arrays = [m for m in members if m.filename.endswith(".npy")]
    check_readable(upload, arrays)
    images = next((m for m in arrays if m.filename == "images.npy"), None)
    if images is not None:
        try:
            header = npy_header(archive, images)
        except _READ_ERRORS as error:  # a damaged entry, or not an .npy array inside
            raise _read_failure(upload, images, error) from None
        problem = image_array_problem(header[0], header[1].itemsize) if header else None
        if problem:
            raise UploadError(f"{upload.filename}: {problem}. To fix: {RESIZE_FIX}")
    return tuple(PurePosixPath(m.filename).stem for m in arrays)


def verify_members(upload: Upload, archive: zipfile.ZipFile) -> None:
    """Read every entry through (checksums included, real bytes counted against MAX_UNPACKED_BYTES), so a damaged
    archive is refused now rather than when the cohort is loaded."""
    budget = MAX_UNPACKED_BYTES
    for member in archive.infolist():
        budget -= _stream(archive, member, budget, upload, sink=None)


def safe_file_name(subject: str) -> str:
    """A subject ID as a file name: path separators and control characters cannot appear (checked upstream)."""
    if subject in ("", ".", "..") or any(c in subject for c in "/\\\x00"):
        raise UploadError(f"an image is named {subject!r}, which cannot be a subject ID; rename it.")
    return subject


def copy_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int, upload: Upload
) -> int:
    """Unpack one entry, counting real bytes (a zip's stated sizes can lie); return bytes written.

    An entry that cannot be read (damaged, encrypted, oddly compressed) raises UploadError naming it; a failed
    write stays an OSError (the disk, not the upload).
    """
    with open(target, "wb") as sink:
        return _stream(archive, member, budget, upload, sink)


def _stream(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int, upload: Upload, sink) -> int:
    """Read one entry in chunks into `sink` (or nowhere), at most `budget` bytes; return the bytes read."""
    try:
        source = archive.open(member)
    except _READ_ERRORS as error:
        raise _read_failure(upload, member, error) from None
    written = 0
    with source:
        while True:
            try:
                chunk = source.read(1 << 20)
            except _READ_ERRORS as error:
                raise _read_failure(upload, member, error) from None
            if not chunk:
                return written
            written += len(chunk)
            if written > budget:
                raise UploadError(
                    f"{upload.filename} unpacks to more than {megabytes(MAX_UNPACKED_BYTES)}; "
                    "use 'Folder on this server' for data this large."
                )
            if sink is not None:
                sink.write(chunk)
