""".npz archives of named arrays, as time-series and image modalities may be given."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from crl.data.loaders.common import Found, as_str_ids, listing, require_regular
from crl.data.npy_header import read_npy_header

Shapes = dict[str, tuple[tuple[int, ...], np.dtype]]


def npz_headers(archive: zipfile.ZipFile) -> Shapes:
    """Array name -> (shape, dtype) from each .npy header of an .npz: what loading it would allocate, read
    without decompressing the data (a small compressed archive can hold arrays of any size)."""
    headers: Shapes = {}
    for member in archive.infolist():
        if member.filename.endswith(".npy") and (header := npy_header(archive, member)) is not None:
            headers[member.filename[: -len(".npy")]] = header
    return headers


def npy_header(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, dtype) of one .npy entry from its header; None for a format version this reader does not know."""
    with archive.open(member) as stream:
        header = read_npy_header(stream)
    return None if header is None else (header[0], header[2])  # None: the loaded array is checked instead


def read_npz(
    path: Path,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    found: Found,
    check: Callable[[Shapes], None] | None = None,
    skip: tuple[str, ...] = (),
) -> dict:
    """The named arrays of an .npz archive (never unpickles: object arrays are refused).

    `check(headers)` sees each array's shape and dtype before any data is read, and raises to refuse them.
    Arrays named in `skip` are checked to be there but not read (the caller streams them).
    """
    require_regular(path, found)
    with np.load(path, allow_pickle=False) as archive:
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise found.fatal(
                "bad_npz",
                "is a single .npy array, not an .npz archive of named arrays.",
                f"save it with numpy.savez(path, {', '.join(f'{k}=...' for k in required)}).",
            )
        missing = [k for k in required if k not in archive.files]
        if missing:
            raise found.fatal(
                "bad_npz",
                f"has arrays {listing(archive.files, 8) or 'none'}; it needs {', '.join(map(repr, required))} "
                f"(missing {', '.join(map(repr, missing))}).",
                f"save it with numpy.savez(path, {', '.join(f'{k}=...' for k in required)}).",
            )
        if check is not None:
            check(npz_headers(archive.zip))
        return {k: archive[k] for k in (*required, *optional) if k in archive.files and k not in skip}


def npz_ids(ids: np.ndarray, n: int, found: Found) -> np.ndarray:
    if ids.ndim != 1 or len(ids) != n:
        raise found.fatal(
            "bad_npz",
            f"'ids' has shape {ids.shape} but the data has {n} subjects.",
            "store one ID per subject: 'ids' of shape (N,) in the same order as the data.",
        )
    if ids.dtype.kind == "S":
        ids = np.char.decode(ids, "utf-8")
    return as_str_ids(ids)


def empty_dimensions(shape: tuple[int, ...], names: tuple[str, ...]) -> str | None:
    """`0 channels and 0 time steps` for the named trailing dimensions of `shape` that are 0, else None.

    Validation refuses them: an array with a zero-size dimension holds no data, and training would fail on it.
    """
    empty = [name for size, name in zip(shape[-len(names) :], names, strict=True) if size == 0]
    return " and ".join(f"0 {name}" for name in empty) or None
