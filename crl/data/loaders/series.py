"""Time-series modalities: a long table (id, time, one column per channel) or an .npz, brought to one length."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.loaders.common import Found, Loaded, listing, plural, verb
from crl.data.loaders.npz import empty_dimensions, npz_ids, read_npz
from crl.data.loaders.table import numeric_columns, read_table
from crl.data.manifest import DEFAULT_TIME, Problem


def _time_keys(times: pd.Series, found: Found, column: str) -> np.ndarray:
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
    found = Found(path, problems)
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
    channels = numeric_columns(frame.drop(columns=[time_column]), found)
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


def _load_timeseries_npz(path: Path, problems: list[Problem] | None) -> Loaded:
    found = Found(path, problems)
    arrays = read_npz(path, ("ids", "values"), ("channels",), found)
    values = arrays["values"]
    dimensions = ("channels", "time steps")[3 - values.ndim :] if values.ndim in (2, 3) else ()
    empty = empty_dimensions(values.shape, dimensions) if dimensions else None
    if empty:
        raise found.fatal(
            "empty_dimension",
            f"'values' has shape {values.shape}: {empty}.",
            "store at least one channel and one time step per subject: 'values' of shape (subjects, channels, "
            "time steps).",
        )
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
    ids = npz_ids(arrays["ids"], len(values), found)
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
