"""Image modalities: a folder of <subject_id>.png/.jpg, or an .npz of images; decoded to (N, H, W, C) uint8."""

from __future__ import annotations

import math
import os
import re
import struct
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from crl.data.image_store import (
    build,
    cached,
    chunks,
    file_key,
    release,
    row_chunk,
    source_key,
    stream_npz_member,
)
from crl.data.loaders.common import (
    Found,
    Loaded,
    listing,
    plural,
    require_regular,
    special_file,
    verb,
)
from crl.data.loaders.npz import Shapes, empty_dimensions, npz_headers, npz_ids, read_npz
from crl.data.manifest import Problem

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # more than 8 bits: reduced to 8 (value / 256)
# Checked from each image's header before any pixel is decoded (docs/cohort-format.md, "Image size"): a PNG of
# 60 KB can declare 8000x8000 pixels, 64 MB once decoded.
MAX_IMAGE_SIDE = 4096  # pixels; width and height each
MAX_IMAGE_BYTES = 4 * 1024**3  # one image modality once decoded (subjects x height x width x channels)
# Pillow's decompression-bomb guard warns above this many pixels and refuses above twice as many: a backstop
# for any image opened without the header check.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE
RESIZE_FIX = (
    f"resize the images, all to one size of at most {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} (the image encoder is "
    "built for 28 to 128 pixels a side: 128x128 keeps training quick), and save them again."
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageTooLarge(ValueError):
    """An image whose header declares more pixels than MAX_IMAGE_SIDE allows: it is never decoded."""

    def __init__(self, width: int | None, height: int | None, pixels: int | None = None):
        self.width, self.height, self.pixels = width, height, pixels
        super().__init__(self.size_text())

    def size_text(self) -> str:
        """`8000x8000` (width x height), or the pixel count when Pillow refused the header before its size was seen."""
        if self.width is not None:
            return f"{self.width}x{self.height}"
        return f"about {self.pixels:,} pixels" if self.pixels else "too large to open"


def read_header(path: Path) -> tuple[tuple[int, int], str]:
    """An image file's (width, height) and mode from its header, no pixel decoded; ImageTooLarge over the cap.

    Anything else Pillow raises (not an image, a damaged header) propagates.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with its size
            with Image.open(path) as image:
                size, mode = image.size, image.mode
    except Image.DecompressionBombError as error:
        raise _bomb(path, error) from None
    if max(size) > MAX_IMAGE_SIDE:
        raise ImageTooLarge(*size)
    return size, mode


def _bomb(path: Path, error: Exception) -> ImageTooLarge:
    """Pillow refused an image as a decompression bomb: its width and height from a PNG header, else its pixels."""
    with open(path, "rb") as file:
        head = file.read(24)
    if len(head) == 24 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        return ImageTooLarge(*struct.unpack(">II", head[16:24]))
    pixels = re.search(r"\((\d+) pixels\)", str(error))
    return ImageTooLarge(None, None, int(pixels.group(1)) if pixels else None)


def image_array_problem(shape: tuple[int, ...], itemsize: int) -> str | None:
    """Why an 'images' array (N, H, W[, C]) of this shape may not be read (from its .npy header), or None."""
    if len(shape) not in (3, 4):
        return None  # the loaded array's checks say what is wrong with it
    height, width = shape[1], shape[2]
    if max(height, width) > MAX_IMAGE_SIDE:
        return (
            f"'images' are {width}x{height} pixels (width x height); images may be at most "
            f"{MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE}"
        )
    total = math.prod(shape) * itemsize
    if total > MAX_IMAGE_BYTES:
        return f"'images' {shape} take {_gigabytes(total)} once read; {_decoded_limit()}"
    return None


def _gigabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1024**3:.1f} GB"


def _decoded_limit() -> str:
    return f"one image modality may take at most {MAX_IMAGE_BYTES / 1024**3:g} GB of memory"


def _check_npz_images(found: Found):
    def check(headers: Shapes) -> None:
        if "images" in headers:
            shape, dtype = headers["images"]
            problem = image_array_problem(shape, dtype.itemsize)
            if problem:
                raise found.fatal("image_too_large", f"{problem}.", RESIZE_FIX)

    return check


def load_images(path: Path, problems: list[Problem] | None = None) -> Loaded:
    """A folder of <subject_id>.png/.jpg, or an .npz ("ids", "images" (N, H, W[, C])) -> (N, H, W, C) uint8.

    Grayscale gives C = 1 (feature name "gray"), colour C = 3 ("R", "G", "B"). A folder is decoded straight
    into one preallocated array, so memory holds the images once.
    """
    found = Found(path, problems)
    require_regular(path, found, folder_ok=True)
    if path.is_dir():
        return _load_image_folder(path, problems)
    if path.suffix.lower() != ".npz":
        raise found.fatal(
            "unsupported_file",
            f"an image modality must be a folder of .png/.jpg files or an .npz, not '{path.suffix}'.",
            "point path at the image folder, or save the images with numpy.savez(path, ids=..., images=...).",
        )
    arrays = read_npz(path, ("ids", "images"), (), found, check=_check_npz_images(found), skip=("images",))
    images, alpha_dropped = _npz_images(path)
    empty = (
        empty_dimensions(images.shape[1:3], ("pixels high", "pixels wide")) if images.ndim in (3, 4) else None
    )
    if empty:
        raise found.fatal(
            "empty_dimension",
            f"'images' has shape {images.shape}: {empty}.",
            "store images of at least one pixel: 'images' of shape (N, height, width) or (N, height, width, 3).",
        )
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or images.dtype.kind not in "biuf":
        raise found.fatal(
            "bad_npz",
            f"'images' must be (N, H, W) or (N, H, W, C) with C = 1 or 3, not {images.dtype} {images.shape}.",
            "store 'images' as uint8, gray (N, H, W) or colour (N, H, W, 3).",
        )
    ids = npz_ids(arrays["ids"], len(images), found)
    if images.shape[-1] == 4 or alpha_dropped:
        images = images[..., :3]
        found.add("warning", "image_alpha", "alpha channel dropped: images are read as RGB.")
    if images.dtype != np.uint8:
        images = _to_uint8(images, found)
    found.flush()
    names = ["gray"] if images.shape[-1] == 1 else ["R", "G", "B"]
    return Loaded(ids, images if isinstance(images, np.memmap) else np.ascontiguousarray(images), names)


def _npz_images(path: Path) -> tuple[np.ndarray, bool]:
    """The .npz's 'images': uint8 ones decoded once into the cache and memory-mapped
    (crl.data.image_store), anything else read whole, as before, for the checks below to convert or refuse; and whether
    an alpha channel was dropped on the way."""
    with np.load(path, allow_pickle=False) as archive:
        shape, _ = npz_headers(archive.zip).get("images", ((), np.dtype(np.uint8)))
    key = file_key(path, "images")
    stored = cached(key)
    if stored is None:
        stored = stream_npz_member(path, "images", key)
    if stored is None:
        with np.load(path, allow_pickle=False) as archive:
            return archive["images"], False
    return stored, len(shape) == 4 and shape[3] == 4


def _to_uint8(images: np.ndarray, found: Found) -> np.ndarray:
    """Lossless when values are whole numbers in 0..255; floats in [0, 1] are scaled by 255 (with a warning)."""
    finite = np.isfinite(images) if images.dtype.kind == "f" else np.ones(1, dtype=bool)
    if not finite.all():
        raise found.fatal(
            "non_finite", "'images' holds NaN or infinite values.", "store pixel values 0 to 255."
        )
    low, high = float(images.min()), float(images.max())
    if images.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
        found.add("warning", "image_dtype", f"{images.dtype} images in [0, 1] scaled to 0..255 uint8.")
        return np.rint(images * 255.0).astype(np.uint8)
    if low < 0 or high > 255:
        raise found.fatal(
            "image_dtype",
            f"'images' values run from {low:g} to {high:g}; images must be 0..255.",
            "rescale to 0..255 and store as uint8.",
        )
    if images.dtype.kind == "f" and not np.array_equal(images, np.rint(images)):
        found.add("warning", "image_dtype", f"{images.dtype} images rounded to whole 0..255 values.")
    return np.rint(images).astype(np.uint8) if images.dtype.kind == "f" else images.astype(np.uint8)


_COLOUR_MODES = ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")


def _load_image_folder(path: Path, problems: list[Problem] | None) -> Loaded:
    found = Found(path, problems)
    files, ignored, special = [], [], []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.suffix.lower() not in IMAGE_SUFFIXES:
            ignored.append(entry)
        else:
            (special if special_file(entry) else files).append(entry)
    if special:
        found.add(
            "warning",
            "special_file",
            f"ignored {plural(len(special), 'entry', 'entries')} that {verb(len(special), 'is', 'are')} not "
            f"regular files: {listing(e.name for e in special)} (only regular files are read).",
            "replace each with the image file itself (a symbolic link is fine when it points to a regular file).",
        )
    if ignored:
        found.add(
            "warning",
            "ignored_files",
            f"ignored {plural(len(ignored), 'entry', 'entries')} that {verb(len(ignored), 'is', 'are')} not .png/.jpg: "
            f"{listing(e.name for e in ignored)}.",
            "remove them or move them out of the image folder.",
        )
    if not files:
        raise found.fatal(
            "no_images",
            "holds no .png or .jpg images.",
            "put one image per subject in the folder, named <subject_id>.png or <subject_id>.jpg.",
        )
    # Pass 1: header only (size, mode); Pillow does not decode pixels yet, so a huge image costs nothing.
    headers: list[tuple[Path, tuple[int, int], str]] = []
    too_large: list[tuple[Path, ImageTooLarge]] = []
    for file in files:
        try:
            size, mode = read_header(file)
            headers.append((file, size, mode))
        except ImageTooLarge as error:
            too_large.append((file, error))
        except Exception as error:  # noqa: BLE001 - any reader failure is a corrupt file to report
            found.add(
                "error",
                "corrupt_image",
                f"cannot be read as an image ({type(error).__name__}: {error}).",
                "replace or delete the file (the subject is then reported missing from this modality).",
                file=str(file),
                subject=file.stem,
            )
    if too_large:
        n = len(too_large)
        found.add(
            "error",
            "image_too_large",
            f"images may be at most {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} pixels (width x height); {n} "
            f"{verb(n, 'is', 'are')} larger and {verb(n, 'was', 'were')} not decoded: "
            f"{listing(f'{f.name} ({e.size_text()})' for f, e in too_large)}.",
            RESIZE_FIX,
        )
    if not headers:
        raise found.fatal(
            "no_images",
            "no image in the folder could be used." if too_large else "no image in the folder could be read.",
            RESIZE_FIX if too_large else "check the files are PNG or JPEG.",
        )
    sizes = Counter(size for _, size, _ in headers)
    width, height = max(sizes, key=lambda s: (sizes[s], s))
    odd = [(f, s) for f, s, _ in headers if s != (width, height)]
    if odd:
        found.add(
            "error",
            "image_size",
            f"images differ in size: most are {width}x{height} (width x height) but {len(odd)} {verb(len(odd), 'is', 'are')} not: "
            f"{listing(f'{f.stem} ({s[0]}x{s[1]})' for f, s in odd)}.",
            f"resize them all to {width}x{height}, or remove the odd ones (those subjects are then left out).",
        )
    colour_count = sum(mode in _COLOUR_MODES for _, _, mode in headers)
    channels = 3 if colour_count else 1
    if 0 < colour_count < len(headers):
        found.add(
            "warning",
            "image_mode",
            f"{plural(colour_count, 'image')} in colour and {len(headers) - colour_count} in grayscale; all read as RGB.",
            "save them all in one mode if this is not intended.",
        )

    # Pass 2: decode each image straight into its row of one file in the cache (crl.data.image_store), which
    # a later load of the unchanged folder reuses.
    usable = [f for f, s, _ in headers if s == (width, height)]
    total = len(usable) * height * width * channels
    if total > MAX_IMAGE_BYTES:
        raise found.fatal(
            "image_too_large",
            f"{plural(len(usable), 'image')} of {width}x{height} pixels take {_gigabytes(total)} once decoded; "
            f"{_decoded_limit()}.",
            RESIZE_FIX,
        )
    wide_modes = {mode for f, s, mode in headers if s == (width, height) and mode in _WIDE_MODES}
    shape = (len(usable), height, width, channels)
    key = source_key(
        os.path.realpath(path), shape, *((f.name, *_stamp(f)) for f in usable)
    )  # any file added, removed, replaced or touched decodes the folder again
    ok = np.ones(len(usable), dtype=bool)
    data = cached(key)
    if data is None or data.shape != shape:
        data = build(key, shape, lambda out: _decode_into(out, usable, channels, ok, found))
    if wide_modes:
        found.add(
            "warning",
            "image_mode",
            f"images in mode {', '.join(sorted(wide_modes))} (more than 8 bits) reduced to 8 bits (value / 256).",
        )
    ids = np.asarray([f.stem for f, good in zip(usable, ok, strict=True) if good], dtype=str)
    found.flush()
    return Loaded(ids, data, ["gray"] if channels == 1 else ["R", "G", "B"])


def _stamp(file: Path) -> tuple[int, int]:
    stat = file.stat()
    return stat.st_size, stat.st_mtime_ns


def _decode_into(out: np.memmap, files: list[Path], channels: int, ok: np.ndarray, found: Found) -> int:
    """Decode each image into its row of `out` (a cache file: memory holds a chunk, not the modality), mark and
    report the corrupt ones, and move the good rows up over theirs; returns how many rows are good."""
    step = row_chunk(out)
    for part in chunks(len(files), step):
        for i in range(part.start, part.stop):
            try:
                with Image.open(files[i]) as image:
                    image.load()
                    out[i] = _pixels(image, channels)
            except Exception as error:  # noqa: BLE001
                ok[i] = False
                found.add(
                    "error",
                    "corrupt_image",
                    f"is corrupt or truncated ({type(error).__name__}: {error}).",
                    "replace or delete the file (the subject is then reported missing from this modality).",
                    file=str(files[i]),
                    subject=files[i].stem,
                )
        out.flush()
        release(out)
    good = np.flatnonzero(ok)
    if len(good) < len(files):
        for part in chunks(len(good), step):  # rows only move up, so no row is overwritten before it is read
            out[part] = out[good[part]]
        out.flush()
        release(out)
    return len(good)


def _pixels(image: Image.Image, channels: int) -> np.ndarray:
    """(H, W, channels) uint8 from any Pillow mode."""
    if image.mode in _WIDE_MODES:
        gray = (np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], channels, axis=-1)
    if channels == 1:
        return np.asarray(image.convert("L"))[..., None]
    return np.asarray(image.convert("RGB"))
