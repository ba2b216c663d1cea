"""Image modalities on disk instead of in memory: decoded once into an uncompressed .npy in the cache folder
(crl.data.cache), then memory-mapped, so a cohort larger than memory can be trained on.

The file is named after the source's path, size and modification time, so an edited source is decoded again;
it is written under a temporary name and renamed into place, so a crash never leaves a half-written one that
looks complete. Consumers read a memory-mapped modality in chunks of rows (`chunks`) and hand pages they no
longer need back to the kernel (`release`): a mapped page counts as resident memory once touched.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from crl.data.cache import cache_root
from crl.data.npy_header import read_npy_header

CHUNK_BYTES = 64 * 1024**2  # rows decoded, copied or summarised at a time
DEFAULT_BUDGET_GB = 20.0  # decoded files kept (CRL_IMAGE_CACHE_GB), least recently used deleted first
STALE_TEMP_SECONDS = 24 * 3600  # a temporary file this old was left by a crashed or killed decode


def store_folder() -> Path:
    return cache_root() / "images"


def source_key(*parts: object) -> str:
    """A file name for a decoded source: the hash of what identifies it (path, size, mtime, listing...)."""
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:32]


def file_key(path: Path, *extra: object) -> str:
    stat = os.stat(path)
    return source_key(os.path.realpath(path), stat.st_size, stat.st_mtime_ns, *extra)


def cached(key: str) -> np.memmap | None:
    """The decoded array stored under `key`, memory-mapped read-only; None when there is none (or it is unreadable)."""
    path = store_folder() / f"{key}.npy"
    if not path.exists():
        return None
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    try:
        os.utime(path)  # recently used: pruned last
    except OSError:
        pass
    return array


def build(key: str, shape: tuple[int, ...], fill: Callable[[np.memmap], int | None]) -> np.memmap:
    """Create the uint8 array `shape` on disk, let `fill` write it (in chunks), publish it atomically and
    return it memory-mapped read-only. A cache folder that cannot be written gives a temporary file instead.

    `fill` may return how many leading rows it kept (fewer than it was given: a corrupt image left out): those
    rows are returned from a temporary file that is not published, so a later load decodes, and reports, again.
    """
    folder = store_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npy.tmp", dir=folder)
    except OSError:
        handle, temp = tempfile.mkstemp(suffix=".npy")
        folder = None
    os.close(handle)
    os.chmod(temp, 0o644)  # an ordinary cache file, not a private one
    try:
        out = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=shape)
        kept = fill(out)
        out.flush()
        del out
        if folder is None or (kept is not None and kept < shape[0]):
            # Unlinked once mapped: the mapping keeps the data until it is closed.
            array = np.load(temp, mmap_mode="r")
            os.unlink(temp)
            return array if kept is None else array[:kept]
        final = folder / f"{key}.npy"
        os.replace(temp, final)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    prune(keep=final)
    return np.load(final, mmap_mode="r")


def budget_bytes() -> int:
    """How many bytes of decoded images the store keeps: CRL_IMAGE_CACHE_GB (default 20 GB)."""
    try:
        gigabytes = float(os.environ.get("CRL_IMAGE_CACHE_GB", DEFAULT_BUDGET_GB))
    except ValueError:
        gigabytes = DEFAULT_BUDGET_GB
    return int(max(gigabytes, 0.0) * 1024**3)


def stored_files() -> list[Path]:
    """The store's decoded files, least recently used first."""
    files = []
    for path in store_folder().glob("*.npy"):  # nothing when the folder does not exist
        try:
            files.append((path.stat().st_mtime, path))
        except OSError:
            continue
    return [path for _, path in sorted(files)]


def usage() -> tuple[int, int]:
    """(files, bytes) in the store."""
    sizes = [_size(path) for path in stored_files()]
    return len(sizes), sum(sizes)


def prune(keep: Path | None = None, budget: int | None = None) -> int:
    """Delete the least recently used decoded files until the store fits `budget` (budget_bytes()), never
    `keep`, and temporary files left by a decode that crashed a day ago or more; returns the bytes freed.
    A process still reading a deleted file keeps its mapping: Linux frees the space when it closes."""
    budget = budget_bytes() if budget is None else budget
    freed = 0
    for temp in store_folder().glob(".*.npy.tmp"):  # nothing when the folder does not exist
        try:
            if time.time() - temp.stat().st_mtime > STALE_TEMP_SECONDS:
                freed += _remove(temp)
        except OSError:
            continue
    files = stored_files()
    total = sum(_size(path) for path in files)
    for path in files:
        if total <= budget:
            break
        if keep is not None and path == keep:
            continue
        removed = _remove(path)
        total -= removed
        freed += removed
    return freed


def clear() -> int:
    """Delete every decoded file (they are decoded again when next needed); returns the bytes freed."""
    return prune(budget=0)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _remove(path: Path) -> int:
    size = _size(path)
    try:
        path.unlink()
    except OSError:
        return 0
    return size


def row_chunk(array: np.ndarray) -> int:
    """Rows per chunk of CHUNK_BYTES."""
    row = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize)
    return max(1, CHUNK_BYTES // row)


def chunks(n: int, step: int) -> Iterator[slice]:
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def release(array: np.ndarray) -> None:
    """Drop the pages of a memory-mapped array from this process's resident memory (they stay in the kernel's
    page cache, and are read again when touched); nothing for an ordinary array."""
    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(handle, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            handle.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass


def stream_npz_member(path: Path, member: str, key: str) -> np.memmap | None:
    """Member `member` of an .npz decoded chunk by chunk into the cache: (N, H, W, C) uint8, C = 1 or 3 (gray
    (N, H, W) gains its channel axis, an alpha channel is dropped). None when it is not a C-ordered uint8
    array of that layout: the caller then reads it the ordinary way (its checks say what is wrong)."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{member}.npy") as stream:
        header = read_npy_header(stream)
        if header is None:
            return None
        shape, fortran, dtype = header
        if dtype != np.uint8 or fortran or len(shape) not in (3, 4) or 0 in shape[1:]:
            return None
        channels_in = 1 if len(shape) == 3 else shape[3]
        if channels_in not in (1, 3, 4):
            return None
        height, width = shape[1], shape[2]
        row = height * width * channels_in
        out_shape = (shape[0], height, width, min(channels_in, 3))

        def fill(out: np.memmap) -> None:
            step = max(1, CHUNK_BYTES // row)
            for part in chunks(shape[0], step):
                count = part.stop - part.start
                raw = _read_exact(stream, count * row)
                block = np.frombuffer(raw, dtype=np.uint8).reshape(count, height, width, channels_in)
                out[part] = block[..., : out_shape[3]]
                out.flush()
                release(out)

        return build(key, out_shape, fill)


def _read_exact(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError(f"the archive member ends early: {len(data)} of {size} bytes")
    return data


def take_rows(
    source: np.ndarray, rows: np.ndarray, key: str, filler_rows: np.ndarray | None = None, filler: int = 0
) -> np.ndarray:
    """`source[rows]` (rows where `filler_rows` is True set to `filler`) as a memory-mapped cache file copied
    chunk by chunk when `source` is memory-mapped; an ordinary fancy-indexed copy otherwise."""
    if not isinstance(source, np.memmap):
        out = source[rows]
        if filler_rows is not None:
            out[filler_rows] = filler
        return out
    shape = (len(rows), *source.shape[1:])
    found = cached(key)
    if found is not None and found.shape == shape:
        return found

    def fill(out: np.memmap) -> None:
        for part in chunks(len(rows), row_chunk(source)):
            block = source[rows[part]]
            if filler_rows is not None:
                block[filler_rows[part]] = filler
            out[part] = block
            out.flush()
            release(out)
            release(source)

    return build(key, shape, fill)


def rows_key(source: np.ndarray, rows: np.ndarray, filler_rows: np.ndarray | None) -> str:
    """The cache key of `take_rows(source, rows, ...)`: the source file's and the rows' (and fillers') hashes."""
    digest = hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    if filler_rows is not None:
        digest.update(np.packbits(np.asarray(filler_rows, dtype=bool)).tobytes())
    origin = getattr(source, "filename", None) or ""
    return source_key(origin, getattr(source, "offset", 0), source.shape, digest.hexdigest())


def aligned_rows(
    source: np.ndarray, rows: np.ndarray, lacking: np.ndarray | None = None, filler: int = 0
) -> np.ndarray:
    """`source[rows]`, rows where `lacking` is True set to `filler`, without holding a copy in memory when
    `source` is memory-mapped (`take_rows`)."""
    rows = np.asarray(rows, dtype=np.int64)
    if lacking is not None:
        rows = np.where(lacking, 0, rows)
        if not lacking.any():
            lacking = None
    return take_rows(source, rows, rows_key(source, rows, lacking), lacking, filler)
