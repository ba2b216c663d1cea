"""One loader per modality kind (and one for covariates): a file or folder in, (subject_ids, data, names) out.

Loaders append what they find to `problems` when given a list; with `problems=None` an error raises
`LoadError`. Unexpected exceptions from the readers (pandas, pyarrow, numpy, Pillow) propagate: the validator
turns them into "cannot read" problems.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from PIL import Image

from crl.data.manifest import DEFAULT_TIME, Problem
from crl.errors import CohortError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_LISTED = 5


class Loaded(NamedTuple):
    """subject_ids (N,) str; data: tabular (N, F) float32, timeseries (N, C, T) float32, image (N, H, W, C) uint8."""

    subject_ids: np.ndarray
    data: np.ndarray
    feature_names: list[str]


class LoadError(CohortError):
    """A source cannot be loaded; `problems` says why (each with a fix)."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(p.line() for p in problems), None)
        self.problems = problems


class _Found:
    """Collects problems; hands them to the caller's list, or raises when the caller gave none and one is an error."""

    def __init__(self, path: Path, sink: list[Problem] | None):
        self.path, self.sink, self.items = path, sink, []

    def add(self, severity: str, check: str, message: str, fix: str = "", **where) -> None:
        where.setdefault("file", str(self.path))
        self.items.append(Problem(severity, check, message, fix, **where))

    def fatal(self, check: str, message: str, fix: str = "", **where) -> LoadError:
        """Record an error that leaves nothing to return; raise the result."""
        self.add("error", check, message, fix, **where)
        errors = [p for p in self.items if p.severity == "error"]
        self.flush()
        return LoadError(errors)

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.extend(self.items)
        elif any(p.severity == "error" for p in self.items):
            raise LoadError([p for p in self.items if p.severity == "error"])
        self.items = []


def listing(items, limit: int = MAX_LISTED) -> str:
    """`a, b, c and 7 more`: enough to find the rows without flooding a terminal."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 subject`, `3 subjects`."""
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


def verb(count: int, one: str, many: str) -> str:
    """The verb form agreeing with `count` (`has` / `have`)."""
    return one if count == 1 else many


def _as_str_ids(values) -> np.ndarray:
    """Subject IDs as a numpy str array, whitespace stripped (IDs are compared as text).

    Whole-number floats (a parquet column of IDs that once held a missing value) become "12", not "12.0",
    so they match the same IDs written as integers or text elsewhere.
    """
    series = pd.Series(values)
    if pd.api.types.is_float_dtype(series):
        numbers = series.to_numpy(dtype=np.float64)
        if np.isfinite(numbers).all() and (numbers == np.round(numbers)).all():
            series = pd.Series(numbers.astype(np.int64))
    return np.char.strip(np.asarray(series.astype(str).to_numpy(), dtype=str))


def read_table(path: Path, id_column: str, found: _Found) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a .csv/.parquet table; return it with the ID column removed, and the IDs as (N,) str.

    Raises LoadError for an unsupported suffix, a missing ID column or rows without an ID.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        # Reading the ID column as text keeps leading zeros ("007" stays "007").
        frame = pd.read_csv(path, dtype={id_column: str})
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        raise found.fatal(
            "unsupported_file",
            f"unsupported file type '{path.suffix}'.",
            "save the table as .csv or .parquet.",
        )
    frame.columns = [str(c) for c in frame.columns]
    saved_index = [c for c in frame.columns if c.startswith("Unnamed: ") and c != id_column]
    if saved_index:
        # pandas writes its row index as an unnamed first column unless told index=False.
        found.add(
            "warning",
            "saved_index",
            f"{plural(len(saved_index), 'unnamed column')} ({listing(saved_index)}) "
            f"{verb(len(saved_index), 'looks', 'look')} like a saved row index and "
            f"{verb(len(saved_index), 'was', 'were')} ignored.",
            "save the table without its index (pandas: to_csv(..., index=False)) or name the column.",
        )
        frame = frame.drop(columns=saved_index)
    if id_column not in frame.columns:
        lower = {c.lower(): c for c in frame.columns}
        hint = (
            f" Column '{lower[id_column.lower()]}' differs only in case."
            if id_column.lower() in lower
            else ""
        )
        raise found.fatal(
            "missing_id_column",
            f"no ID column '{id_column}' (columns: {listing(frame.columns, 8)}).{hint}",
            f"rename the subject-ID column to '{id_column}', or set id = \"...\" in cohort.toml.",
        )
    ids = frame[id_column]
    blank = ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy()
    if blank.any():
        rows = np.flatnonzero(blank) + 2 if suffix == ".csv" else np.flatnonzero(blank)
        where = "lines" if suffix == ".csv" else "rows"
        raise found.fatal(
            "missing_ids",
            f"{plural(int(blank.sum()), 'row')} {verb(int(blank.sum()), 'has', 'have')} no subject ID "
            f"({where} {listing(rows)}).",
            "fill in the ID or delete those rows.",
            column=id_column,
        )
    return frame.drop(columns=[id_column]), _as_str_ids(ids)


def _numeric_columns(frame: pd.DataFrame, found: _Found) -> pd.DataFrame:
    """Keep the numeric columns (booleans count); report each other column with examples of what is in it."""
    keep = []
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_complex_dtype(series):
            keep.append(column)
            continue
        as_numbers = pd.to_numeric(series, errors="coerce")
        bad = series.notna().to_numpy() & as_numbers.isna().to_numpy()
        if not bad.any():  # numbers stored as text: usable as they are
            frame[column] = as_numbers
            keep.append(column)
            continue
        examples = listing(dict.fromkeys(repr(str(v)) for v in series[bad].head(50)), 3)
        found.add(
            "error",
            "non_numeric",
            f"is not numeric: {plural(int(bad.sum()), 'value')} {verb(int(bad.sum()), 'is not a number', 'are not numbers')}, "
            f"e.g. {examples}.",
            "encode it as numbers, remove it, or move it to the covariates file (covariates may hold text).",
            column=column,
        )
    return frame[keep]


def load_tabular(path: Path, id_column: str, problems: list[Problem] | None = None) -> Loaded:
    """A .csv/.parquet table with one row per subject -> ids (N,), data (N, F) float32, column names."""
    found = _Found(path, problems)
    frame, ids = read_table(path, id_column, found)
    frame = _numeric_columns(frame, found)
    if frame.shape[1] == 0:
        raise found.fatal(
            "no_features",
            "has no numeric feature columns besides the ID.",
            "add at least one numeric column of measurements.",
        )
    data = frame.to_numpy(dtype=np.float32, na_value=np.nan)
    found.flush()
    return Loaded(ids, data, list(frame.columns))


def _time_keys(times: pd.Series, found: _Found, column: str) -> np.ndarray:
    """Time values as float64 sort keys: numbers as they are, dates as nanoseconds."""
    if pd.api.types.is_bool_dtype(times):
        times = times.astype(np.int64)
    if pd.api.types.is_numeric_dtype(times):
        keys = times.to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_datetime64_any_dtype(times):
        keys = _datetime_keys(times)
    else:
        numbers = pd.to_numeric(times, errors="coerce")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns when it guesses a date format
            dates = pd.to_datetime(times, errors="coerce")
        given = times.notna()
        if numbers.notna().sum() == given.sum():
            keys = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        elif dates.notna().sum() == given.sum():
            keys = _datetime_keys(dates)
        else:
            # Neither all numbers nor all dates: name the values that are neither, or say they are mixed.
            bad = given & numbers.isna() & dates.isna()
            shown = times[bad] if bad.any() else times[given & numbers.isna()]
            kind = "values that are neither numbers nor dates" if bad.any() else "a mix of numbers and dates"
            raise found.fatal(
                "bad_time",
                f"time column holds {kind}, e.g. {listing(dict.fromkeys(repr(str(v)) for v in shown.head(20)), 3)}.",
                "write times as numbers (e.g. hours since start) or ISO dates, the same way in every row.",
                column=column,
            )
    missing = np.isnan(keys)
    if missing.any():
        raise found.fatal(
            "bad_time",
            f"{plural(int(missing.sum()), 'row')} {verb(int(missing.sum()), 'has', 'have')} no time value.",
            "fill in the time or delete those rows.",
            column=column,
        )
    return keys


def _datetime_keys(times: pd.Series) -> np.ndarray:
    # Time-zone aware values cannot go to naive datetime64 directly; UTC keeps their order.
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    values = times.to_numpy(dtype="datetime64[ns]")
    keys = values.astype(np.int64).astype(np.float64)
    keys[np.isnat(values)] = np.nan
    return keys


def _fit_length(series: np.ndarray, length: int, policy: str) -> np.ndarray:
    """(C, T_i) -> (C, length): pad repeats the last value, crop keeps the first steps, resample interpolates."""
    steps = series.shape[1]
    if steps == length:
        return series
    if policy == "pad":
        return np.pad(series, ((0, 0), (0, length - steps)), mode="edge")
    if policy == "crop":
        return series[:, :length]
    old = np.linspace(0.0, 1.0, steps) if steps > 1 else np.zeros(1)
    new = np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(new, old, channel) for channel in series])


def target_length(lengths: np.ndarray, policy: str) -> int:
    """The common length a policy brings every series to (resample: the most common length, ties to the longer)."""
    if policy == "pad":
        return int(lengths.max())
    if policy == "crop":
        return int(lengths.min())
    counts = Counter(lengths.tolist())
    return int(max(counts, key=lambda t: (counts[t], t)))


def _length_text(ids: np.ndarray, lengths: np.ndarray) -> str:
    common = target_length(lengths, "resample")
    odd = np.flatnonzero(lengths != common)
    examples = listing([f"{ids[i]} ({lengths[i]})" for i in odd])
    return (
        f"time series have unequal lengths ({lengths.min()} to {lengths.max()} steps; most have {common}); "
        f"{len(odd)} {verb(len(odd), 'differs', 'differ')}: {examples}."
    )


def load_timeseries(
    path: Path,
    id_column: str,
    time_column: str = DEFAULT_TIME,
    length_policy: str = "error",
    problems: list[Problem] | None = None,
) -> Loaded:
    """A long table (id, time, one column per channel) or an .npz ("ids" (N,), "values" (N, C, T)).

    Returns ids (N,), data (N, C, T) float32 ordered by time within each subject, channel names.
    """
    if path.suffix.lower() == ".npz":
        return _load_timeseries_npz(path, problems)
    found = _Found(path, problems)
    frame, ids = read_table(path, id_column, found)
    if time_column not in frame.columns:
        likely = [
            c for c in frame.columns if any(w in c.lower() for w in ("time", "date", "day", "hour", "step"))
        ]
        hint = f" Columns that look like time: {listing(likely)}." if likely else ""
        raise found.fatal(
            "missing_time_column",
            f"no time column '{time_column}' (columns: {listing(frame.columns, 8)}).{hint}",
            f"rename the time column to '{time_column}', or set time = \"...\" in the modality's table.",
        )
    keys = _time_keys(frame[time_column], found, time_column)
    channels = _numeric_columns(frame.drop(columns=[time_column]), found)
    if channels.shape[1] == 0:
        raise found.fatal(
            "no_features",
            "has no numeric channel columns besides the ID and time.",
            "add one numeric column per channel.",
        )
    codes, subjects = pd.factorize(ids, sort=True)
    subjects = np.asarray(subjects, dtype=str)
    order = np.lexsort((keys, codes))
    codes, keys = codes[order], keys[order]
    repeated = (codes[1:] == codes[:-1]) & (keys[1:] == keys[:-1])
    if repeated.any():
        who = dict.fromkeys(subjects[codes[1:][repeated]])
        raise found.fatal(
            "duplicate_time",
            f"{plural(int(repeated.sum()), 'row')} {verb(int(repeated.sum()), 'repeats', 'repeat')} a (subject, time) pair, "
            f"in subjects {listing(who)}.",
            "keep one row per subject and time point.",
            column=time_column,
        )
    names = list(channels.columns)
    values = channels.to_numpy(dtype=np.float32, na_value=np.nan)[order]
    del frame, channels
    lengths = np.bincount(codes, minlength=len(subjects))
    n, c = len(subjects), values.shape[1]
    if (lengths == lengths[0]).all():
        data = np.ascontiguousarray(values.reshape(n, lengths[0], c).transpose(0, 2, 1))
    else:
        text = _length_text(subjects, lengths)
        if length_policy == "error":
            raise found.fatal(
                "unequal_length",
                text,
                'make every series the same length, or load with length_policy="pad", "crop" or "resample" '
                "(also settable per modality in cohort.toml).",
            )
        length = target_length(lengths, length_policy)
        found.add(
            "warning",
            "unequal_length",
            f"{text} Brought to {length} steps (length_policy={length_policy!r}).",
        )
        data = np.empty((n, c, length), dtype=np.float32)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for i, (start, steps) in enumerate(zip(starts, lengths, strict=True)):
            data[i] = _fit_length(values[start : start + steps].T, length, length_policy)
    found.flush()
    return Loaded(subjects, data, names)


def _read_npz(path: Path, required: tuple[str, ...], optional: tuple[str, ...], found: _Found) -> dict:
    """The named arrays of an .npz archive (never unpickles: object arrays are refused)."""
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
        return {k: archive[k] for k in (*required, *optional) if k in archive.files}


def _npz_ids(ids: np.ndarray, n: int, found: _Found) -> np.ndarray:
    if ids.ndim != 1 or len(ids) != n:
        raise found.fatal(
            "bad_npz",
            f"'ids' has shape {ids.shape} but the data has {n} subjects.",
            "store one ID per subject: 'ids' of shape (N,) in the same order as the data.",
        )
    if ids.dtype.kind == "S":
        ids = np.char.decode(ids, "utf-8")
    return _as_str_ids(ids)


def _load_timeseries_npz(path: Path, problems: list[Problem] | None) -> Loaded:
    found = _Found(path, problems)
    arrays = _read_npz(path, ("ids", "values"), ("channels",), found)
    values = arrays["values"]
    if values.ndim == 2:
        values = values[:, None, :]
        found.add(
            "warning", "npz_shape", f"'values' is 2-D {values.shape[::2]}: read as one channel (N, 1, T)."
        )
    if values.ndim != 3 or values.dtype.kind not in "biuf":
        raise found.fatal(
            "bad_npz",
            f"'values' must be numbers of shape (N, channels, T), not {values.dtype} of shape {values.shape}.",
            "store 'values' as a float array (subjects, channels, time steps).",
        )
    ids = _npz_ids(arrays["ids"], len(values), found)
    names = [f"channel{k}" for k in range(values.shape[1])]
    if "channels" in arrays:
        if arrays["channels"].shape == (values.shape[1],):
            names = [str(c) for c in arrays["channels"].astype(str)]
        else:
            found.add(
                "warning",
                "npz_shape",
                f"'channels' has {arrays['channels'].size} names for {values.shape[1]} channels; names ignored.",
                "store one name per channel.",
            )
    data = values.astype(np.float32, copy=False)
    found.flush()
    return Loaded(ids, data, names)


def load_images(path: Path, problems: list[Problem] | None = None) -> Loaded:
    """A folder of <subject_id>.png/.jpg, or an .npz ("ids", "images" (N, H, W[, C])) -> (N, H, W, C) uint8.

    Grayscale gives C = 1 (feature name "gray"), colour C = 3 ("R", "G", "B"). A folder is decoded straight
    into one preallocated array, so memory holds the images once.
    """
    if path.is_dir():
        return _load_image_folder(path, problems)
    found = _Found(path, problems)
    if path.suffix.lower() != ".npz":
        raise found.fatal(
            "unsupported_file",
            f"an image modality must be a folder of .png/.jpg files or an .npz, not '{path.suffix}'.",
            "point path at the image folder, or save the images with numpy.savez(path, ids=..., images=...).",
        )
    arrays = _read_npz(path, ("ids", "images"), (), found)
    images = arrays["images"]
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or images.dtype.kind not in "biuf":
        raise found.fatal(
            "bad_npz",
            f"'images' must be (N, H, W) or (N, H, W, C) with C = 1 or 3, not {images.dtype} {images.shape}.",
            "store 'images' as uint8, gray (N, H, W) or colour (N, H, W, 3).",
        )
    ids = _npz_ids(arrays["ids"], len(images), found)
    if images.shape[-1] == 4:
        images = images[..., :3]
        found.add("warning", "image_alpha", "alpha channel dropped: images are read as RGB.")
    if images.dtype != np.uint8:
        images = _to_uint8(images, found)
    found.flush()
    names = ["gray"] if images.shape[-1] == 1 else ["R", "G", "B"]
    return Loaded(ids, np.ascontiguousarray(images), names)


def _to_uint8(images: np.ndarray, found: _Found) -> np.ndarray:
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
    found = _Found(path, problems)
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


def load_covariates(path: Path, id_column: str, problems: list[Problem] | None = None) -> pd.DataFrame:
    """A .csv/.parquet table of observed variables (numbers or text) -> DataFrame indexed by str subject ID."""
    found = _Found(path, problems)
    frame, ids = read_table(path, id_column, found)
    frame.index = pd.Index(ids, name=id_column)
    found.flush()
    return frame
