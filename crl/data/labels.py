"""What a cohort's modalities, columns, channels and covariates are called on screen, and its time axes.

Files, URLs, exports' ids and CSVs keep the raw names (`fundus_left`, `systolic_bp`, latents
`<modality>.z<k>`); only text a person reads goes through `Labels`. The labels come from cohort.toml's
display keys (crl.data.manifest_labels, docs/cohort-format.md "Labels and units"); without them a modality
reads "Fundus left" and a column keeps its own name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crl.data.manifest import MANIFEST_FILE, Manifest, Problem, read_manifest
from crl.data.manifest_labels import UNIT_SECONDS, Label, TimeStep

# A time axis switches to a larger unit once it spans more than this many of it (24 h of 10-minute epochs
# reads 0-24 h, not 0-1430 min).
SWITCH_AFTER = 2.0
UNKNOWN_TIME = "Time point"
# The driver text of crl.data.features.observed_features: "<modality>: <column><suffix>" per kind.
_TIMESERIES_SUFFIX = " (mean over time)"
_IMAGE_PREFIX = "mean "


def readable_name(name: str) -> str:
    """ "fundus_left" -> "Fundus left": a raw modality name as words, when no label is declared."""
    text = str(name).replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def with_unit(text: str, unit: str | None) -> str:
    return f"{text} ({unit})" if unit else text


def distinct(raw: Sequence[str], shown: Sequence[str]) -> list[str]:
    """`shown` with every label that two raw names share told apart by the raw name: "Eye (fundus_left)"."""
    counts: dict[str, int] = {}
    for text in shown:
        counts[text.casefold()] = counts.get(text.casefold(), 0) + 1
    return [
        f"{text} ({name})" if counts[text.casefold()] > 1 and text != name else text
        for name, text in zip(raw, shown, strict=True)
    ]


@dataclass(frozen=True)
class TimeAxis:
    """x values of a time series' points and the axis title; `unit` is "" when the spacing is unknown."""

    values: np.ndarray
    title: str
    unit: str = ""


def time_axis(step: TimeStep | None, points: int) -> TimeAxis:
    """The axis of `points` samples `step` apart, in the declared unit or a larger one once the span exceeds
    SWITCH_AFTER of it; "Time point" (0, 1, 2, ...) when the spacing is unknown."""
    if step is None:
        return TimeAxis(np.arange(points, dtype=float), UNKNOWN_TIME)
    span = step.seconds * max(points - 1, 0)
    unit = step.unit
    for larger in ("min", "h"):
        if UNIT_SECONDS[larger] > UNIT_SECONDS[unit] and span > SWITCH_AFTER * UNIT_SECONDS[larger]:
            unit = larger
    values = np.arange(points, dtype=float) * step.seconds / UNIT_SECONDS[unit]
    return TimeAxis(values, f"Time ({unit})", unit)


@dataclass(frozen=True)
class Labels:
    """Display names for one cohort. Every method falls back to a readable form of the raw name."""

    modalities: Mapping[str, str] = field(default_factory=dict)  # modality -> declared label
    features: Mapping[str, Mapping[str, Label]] = field(default_factory=dict)  # modality -> column -> Label
    covariates: Mapping[str, Label] = field(default_factory=dict)
    time_steps: Mapping[str, TimeStep] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, manifest: Manifest | None) -> Labels:
        if manifest is None:
            return cls()
        specs = manifest.modalities.values()
        raw = [s.name for s in specs]
        shown = distinct(raw, [s.label or readable_name(s.name) for s in specs])
        return cls(
            modalities=dict(zip(raw, shown, strict=True)),
            features={s.name: dict(s.feature_labels) for s in specs if s.feature_labels},
            covariates=dict(manifest.covariates.labels) if manifest.covariates is not None else {},
            time_steps={s.name: s.time_step for s in specs if s.time_step is not None},
            kinds={s.name: s.kind for s in specs},
        )

    def modality(self, name: str) -> str:
        """ "sleep" -> "Home sleep test" (declared) or "Sleep"."""
        return self.modalities.get(name) or readable_name(name)

    def feature(self, modality: str, column: str, unit: bool = True) -> str:
        """ "heart_rate" -> "Heart rate (bpm)" ("Heart rate" without `unit`); the raw name when undeclared."""
        found = self.features.get(modality, {}).get(column)
        if found is None:
            return str(column)
        return with_unit(found.text or str(column), found.unit if unit else None)

    def features_of(self, modality: str, columns: Iterable[str], unit: bool = True) -> list[str]:
        """Display names of a modality's columns or channels, no two alike."""
        columns = [str(c) for c in columns]
        return distinct(columns, [self.feature(modality, c, unit) for c in columns])

    def covariate(self, column: str, unit: bool = True) -> str:
        found = self.covariates.get(column)
        if found is None:
            return str(column)
        return with_unit(found.text or str(column), found.unit if unit else None)

    def covariates_of(self, columns: Iterable[str], unit: bool = True) -> dict[str, str]:
        """Column -> display name for these covariates, no two alike."""
        columns = [str(c) for c in columns]
        return dict(zip(columns, distinct(columns, [self.covariate(c, unit) for c in columns]), strict=True))

    def time_axis(self, modality: str, points: int) -> TimeAxis:
        return time_axis(self.time_steps.get(modality), points)

    def time_axes(self, schema: Mapping[str, Mapping]) -> dict[str, tuple[np.ndarray, str]]:
        """Modality -> (x values, axis title) for each time series of a model schema ({"kind", "shape"}): what
        the traversal and intervention figures take."""
        out = {}
        for name, spec in schema.items():
            if spec.get("kind") == "timeseries" and spec.get("shape"):
                axis = self.time_axis(name, int(spec["shape"][-1]))
                out[name] = (axis.values, axis.title)
        return out

    def driver(self, text: str) -> str:
        """A feature's driver label "sleep: heart_rate (mean over time)" -> "Home sleep test: Heart rate (mean
        over time)" (crl.data.features writes the raw form, which runs store in drivers.json)."""
        modality, sep, rest = str(text).partition(": ")
        if not sep or modality not in self.kinds:
            return str(text)
        kind = self.kinds[modality]
        before, after, column = "", "", rest
        if kind == "timeseries" and rest.endswith(_TIMESERIES_SUFFIX):
            column, after = rest[: -len(_TIMESERIES_SUFFIX)], _TIMESERIES_SUFFIX
        elif kind == "image" and rest.startswith(_IMAGE_PREFIX):
            before, column = _IMAGE_PREFIX, rest[len(_IMAGE_PREFIX) :]
        return f"{self.modality(modality)}: {before}{self.feature(modality, column, unit=False)}{after}"


def labels_of(root: Path | None) -> Labels:
    """The labels in `root/cohort.toml`; none when it is missing or unreadable (names stay readable)."""
    if root is None:
        return Labels()
    manifest, _ = read_manifest(Path(root))
    return Labels.of(manifest)


def unknown_labels(
    manifest: Manifest, features: Mapping[str, Sequence[str]], covariates: Sequence[str] | None
) -> list[Problem]:
    """Warnings for labels declared for a column or channel the data does not have (a typo hides a label).

    features: modality -> its loaded column/channel names; covariates: the covariate table's columns (None
    when it could not be read: nothing to compare with).
    """
    found: list[Problem] = []

    def check(declared: Iterable[str], present: Sequence[str], section: str, source: str) -> None:
        present = [str(p) for p in present]
        for name in declared:
            if name in present:
                continue
            close = difflib.get_close_matches(name, present, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            shown = ", ".join(present[:8]) + (" …" if len(present) > 8 else "")
            found.append(
                Problem(
                    "warning",
                    "unknown_label",
                    f"{section} labels '{name}', which {source} does not have; the label is not shown.{hint}",
                    f"use one of its names ({shown}) or remove the entry.",
                    file=MANIFEST_FILE,
                )
            )

    for name, spec in manifest.modalities.items():
        if spec.feature_labels and name in features:
            what = "columns" if spec.kind == "tabular" else "channels"
            check(spec.feature_labels, features[name], f"[modalities.{name}.{what}]", spec.path)
    if manifest.covariates is not None and covariates is not None and manifest.covariates.labels:
        check(manifest.covariates.labels, covariates, "[covariates.columns]", manifest.covariates.path)
    return found
