"""Image modalities: a folder of <subject_id>.png/.jpg, or an .npz of images; decoded to (N, H, W, C) uint8."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from crl.data.loaders.common import Found, Loaded, listing, plural, verb
from crl.data.loaders.npz import npz_ids, read_npz
from crl.data.manifest import Problem

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_images(path: Path, problems: list[Problem] | None = None) -> Loaded:
    """A folder of <subject_id>.png/.jpg, or an .npz ("ids", "images" (N, H, W[, C])) -> (N, H, W, C) uint8.

    Grayscale gives C = 1 (feature name "gray"), colour C = 3 ("R", "G", "B"). A folder is decoded straight
    into one preallocated array, so memory holds the images once.
    """
    if path.is_dir():
        return _load_image_folder(path, problems)
    found = Found(path, problems)
    if path.suffix.lower() != ".npz":
        raise found.fatal(
            "unsupported_file",
            f"an image modality must be a folder of .png/.jpg files or an .npz, not '{path.suffix}'.",
            "point path at the image folder, or save the images with numpy.savez(path, ids=..., images=...).",
        )
    arrays = read_npz(path, ("ids", "images"), (), found)
    images = arrays["images"]
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or images.dtype.kind not in "biuf":
        raise found.fatal(
            "bad_npz",
            f"'images' must be (N, H, W) or (N, H, W, C) with C = 1 or 3, not {images.dtype} {images.shape}.",
            "store 'images' as uint8, gray (N, H, W) or colour (N, H, W, 3).",
        )
    ids = npz_ids(arrays["ids"], len(images), found)
    if images.shape[-1] == 4:
        images = images[..., :3]
        found.add("warning", "image_alpha", "alpha channel dropped: images are read as RGB.")
    if images.dtype != np.uint8:
        images = _to_uint8(images, found)
    found.flush()
    names = ["gray"] if images.shape[-1] == 1 else ["R", "G", "B"]
    return Loaded(ids, np.ascontiguousarray(images), names)


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
    files, ignored = [], []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):
            continue
        (files if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES else ignored).append(entry)
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
    # Pass 1: header only (size, mode); Pillow does not decode pixels yet.
    headers: list[tuple[Path, tuple[int, int], str]] = []
    for file in files:
        try:
            with Image.open(file) as image:
                headers.append((file, image.size, image.mode))
        except Exception as error:  # noqa: BLE001 - any reader failure is a corrupt file to report
            found.add(
                "error",
                "corrupt_image",
                f"cannot be read as an image ({type(error).__name__}: {error}).",
                "replace or delete the file (the subject is then reported missing from this modality).",
                file=str(file),
                subject=file.stem,
            )
    if not headers:
        raise found.fatal(
            "no_images", "no image in the folder could be read.", "check the files are PNG or JPEG."
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

    # Pass 2: decode each image straight into its slot of one preallocated array.
    usable = [f for f, s, _ in headers if s == (width, height)]
    data = np.zeros((len(usable), height, width, channels), dtype=np.uint8)
    ok = np.ones(len(usable), dtype=bool)
    wide_modes = set()
    for i, file in enumerate(usable):
        try:
            with Image.open(file) as image:
                image.load()
                data[i] = _pixels(image, channels, wide_modes)
        except Exception as error:  # noqa: BLE001
            ok[i] = False
            found.add(
                "error",
                "corrupt_image",
                f"is corrupt or truncated ({type(error).__name__}: {error}).",
                "replace or delete the file (the subject is then reported missing from this modality).",
                file=str(file),
                subject=file.stem,
            )
    if wide_modes:
        found.add(
            "warning",
            "image_mode",
            f"images in mode {', '.join(sorted(wide_modes))} (more than 8 bits) reduced to 8 bits (value / 256).",
        )
    if not ok.all():
        data = data[ok]
    ids = np.asarray([f.stem for f, good in zip(usable, ok, strict=True) if good], dtype=str)
    found.flush()
    return Loaded(ids, data, ["gray"] if channels == 1 else ["R", "G", "B"])


def _pixels(image: Image.Image, channels: int, wide_modes: set) -> np.ndarray:
    """(H, W, channels) uint8 from any Pillow mode."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        wide_modes.add(image.mode)
        gray = (np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], channels, axis=-1)
    if channels == 1:
        return np.asarray(image.convert("L"))[..., None]
    return np.asarray(image.convert("RGB"))
