"""The display keys of cohort.toml: plain labels and units for modalities, columns, channels and covariates,
and a time-series modality's time step. They change what people read, never a name in a file or an export.

Read by crl.data.manifest; problems go through its `report(severity, check, message, fix)` callback, so they
carry the table they come from. docs/cohort-format.md ("Labels and units") is the user's description.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import tomli_w

from crl.data.text import has_line_break_or_control, one_line

# As long as a latent's display name (crl.analysis.names.MAX_LENGTH): fits a graph node and a table cell.
MAX_LABEL = 60
MAX_UNIT = 20
LABEL_KEYS = ("label", "unit")
# Which table of a modality names its columns: tabular columns, time-series channels (images have none).
NAMES_KEY = {"tabular": "columns", "timeseries": "channels"}
DISPLAY_KEYS = ("label", "time_step", "columns", "channels")
TIME_STEP_RULE = "time_step must be a number and a unit, e.g. '10 min' or '30 s'"
UNIT_SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0}
_UNIT_WORDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "min"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
}
_TIME_STEP = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]+)\s*$")

Report = Callable[..., None]  # report(severity, check, message, fix)


@dataclass(frozen=True)
class Label:
    """What a column, channel or covariate is called on screen, and the unit its values are in (if given)."""

    text: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class TimeStep:
    """The spacing of a time series' points: `value` `unit` ("10 min"), unit one of s, min, h."""

    value: float
    unit: str

    @property
    def seconds(self) -> float:
        return self.value * UNIT_SECONDS[self.unit]

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


def parse_time_step(value: Any) -> TimeStep | None:
    """ "10 min" -> TimeStep(10, "min"); also "30s", "0.5 h", "2 hours". None when it is not of that form."""
    if not isinstance(value, str):
        return None
    found = _TIME_STEP.match(value)
    if not found or found.group(2).lower() not in _UNIT_WORDS:
        return None
    number = float(found.group(1))
    if not math.isfinite(number) or number <= 0:
        return None
    return TimeStep(number, _UNIT_WORDS[found.group(2).lower()])


def read_text(value: Any, key: str, longest: int, example: str, report: Report) -> str | None:
    """A label or unit as shown: one line, trimmed; None (with a problem) when it cannot be one."""
    fix = f'write {key} = "{example}" (one line, at most {longest} characters).'
    if not isinstance(value, str):
        report("error", "bad_label", f"{key} = {value!r} is not text.", fix)
        return None
    if has_line_break_or_control(value):
        report("error", "bad_label", f"{key} = {ascii(value)} has a line break or control character.", fix)
        return None
    text = one_line(value)
    if not text:
        report("error", "bad_label", f"{key} is empty.", fix + " Or remove the key to show the name.")
        return None
    if len(text) > longest:
        report("error", "bad_label", f"{key} has {len(text)} characters ('{text[:24]}…').", fix)
        return None
    return text


def read_label(
    value: Any, report: Report, key: str = "label", example: str = "Home sleep test"
) -> str | None:
    return read_text(value, key, MAX_LABEL, example, report)


def read_names(value: Any, key: str, report: Report) -> dict[str, Label]:
    """A `columns` / `channels` table: name -> {label, unit} (or name -> "label"), as `Label`s."""
    fix = f'write e.g. [...{key}] then heart_rate = {{ label = "Heart rate", unit = "bpm" }}.'
    if not isinstance(value, Mapping):
        report("error", "bad_label", f"'{key}' must be a table of names, not {value!r}.", fix)
        return {}
    out: dict[str, Label] = {}
    for name, entry in value.items():
        where = f"{key}.{name if str(name).isprintable() else ascii(name)}"
        if isinstance(entry, str):
            entry = {"label": entry}
        if not isinstance(entry, Mapping):
            report("error", "bad_label", f"{where} must be a label or a table with label and unit.", fix)
            continue
        for extra in entry:
            if extra not in LABEL_KEYS:
                report(
                    "warning",
                    "unknown_key",
                    f"unknown key '{extra}' in {where} ignored.",
                    f"a name takes only {' and '.join(LABEL_KEYS)}.",
                )
        text = (
            read_label(entry["label"], report, f"{where}.label", "Heart rate") if "label" in entry else None
        )
        unit = read_text(entry["unit"], f"{where}.unit", MAX_UNIT, "bpm", report) if "unit" in entry else None
        if text or unit:
            out[str(name)] = Label(text, unit)
    return out


def names_table_text(path: tuple[str, ...], names: Mapping[str, Mapping[str, str]]) -> str:
    """A `columns` / `channels` table as TOML with one inline table a name, as a person would write it:

        [modalities.sleep.channels]
        heart_rate = { label = "Heart rate", unit = "bpm" }

    `path` is the table's keys ("modalities", "sleep", "channels"); tomli-w quotes every key and value.
    """
    header: dict[str, Any] = {}
    for key in reversed(path):
        header = {key: header}
    lines = [tomli_w.dumps(header).strip()]
    for name, entry in names.items():
        key = tomli_w.dumps({str(name): ""}).rsplit(" = ", 1)[0]
        fields = ", ".join(tomli_w.dumps({k: v}).strip() for k, v in entry.items())
        lines.append(f"{key} = {{ {fields} }}")
    return "\n".join(lines) + "\n"


def read_display(kind: str, table: Mapping[str, Any], report: Report) -> dict[str, Any]:
    """A modality table's display keys as ModalitySpec fields: label, feature_labels, time_step."""
    out: dict[str, Any] = {}
    if "label" in table:
        out["label"] = read_label(table["label"], report)
    names_key = NAMES_KEY.get(kind)
    if names_key is not None and names_key in table:
        out["feature_labels"] = read_names(table[names_key], names_key, report)
    if kind == "timeseries" and "time_step" in table:
        step = parse_time_step(table["time_step"])
        if step is None:
            report(
                "error",
                "bad_time_step",
                f"time_step = {table['time_step']!r} is not a spacing of time points.",
                f"{TIME_STEP_RULE} (units: s, min, h); remove it to number the points instead.",
            )
        out["time_step"] = step
    return out
