"""Which subjects a cohort keeps, under its missing-modality policy (crl.data.missing), and who is left out why.

"drop": the sorted subjects present in every modality and not dropped by the NaN policy. "infer": the sorted
subjects with at least one usable modality (present there, not dropped by the NaN policy there), each with the
modalities it has; a subject with none is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crl.data.loaders import Loaded, listing, plural, verb
from crl.data.manifest import Manifest, Problem


@dataclass
class Alignment:
    """The kept subjects (sorted) and, under "infer", who lacks what."""

    subject_ids: np.ndarray
    present: dict[str, np.ndarray] = field(default_factory=dict)  # modalities a kept subject lacks only
    lacks: dict[str, str] = field(default_factory=dict)  # subject -> why "drop" would leave it out


def align(
    manifest: Manifest,
    loaded: dict[str, Loaded],
    dropped: dict[str, list[str]],
    report,
    missing_policy: str = "drop",
) -> Alignment:
    """The subjects to keep; fills `report.excluded` with reasons and adds the warnings (and the no-overlap
    error) to `report.problems`. dropped: subject -> modalities where the NaN policy dropped it."""
    if not loaded:
        return Alignment(np.asarray([], dtype=str))
    sets = {name: set(result.subject_ids.tolist()) for name, result in loaded.items()}
    union = set().union(*sets.values())
    common = set.intersection(*sets.values())
    if not common and union and len(sets) > 1:
        examples = "; ".join(f"{name}: {listing(sorted(ids)[:3], 3)}" for name, ids in sets.items())
        report.problems.append(
            Problem(
                "error",
                "no_overlap",
                f"no subject is present in every modality. IDs seen - {examples}.",
                "use the same subject IDs in every source (IDs are compared as text: '007' is not '7').",
            )
        )
    missing_from: dict[str, list[str]] = {}
    if common and common != union:
        for name, ids in sets.items():
            for subject in sorted(union - ids):
                missing_from.setdefault(subject, []).append(name)
    # Why "drop" leaves each subject out: missing somewhere, or else dropped by the NaN policy.
    reasons = {s: f"missing from {', '.join(names)}" for s, names in missing_from.items()}
    for subject, names in dropped.items():
        if subject in common:
            reasons[subject] = f"missing or infinite values in {', '.join(names)}"
    if missing_policy != "infer":
        if common:
            _warn_missing(manifest, sets, union, report, infer=False)
        report.excluded.update(reasons)
        return Alignment(np.sort(np.asarray(list(common.difference(dropped)), dtype=str)))

    usable = {
        name: ids.difference(s for s, names in dropped.items() if name in names) for name, ids in sets.items()
    }
    keep = set().union(*usable.values()) if common else set()
    _warn_missing(manifest, sets, keep, report, infer=True)
    for subject in sorted(union - keep):
        if common:
            parts = [f"missing from {', '.join(missing_from[subject])}"] if subject in missing_from else []
            if subject in dropped:
                parts.append(f"missing or infinite values in {', '.join(dropped[subject])}")
            report.excluded[subject] = "no usable modality: " + "; ".join(parts)
    ids = np.sort(np.asarray(list(keep), dtype=str))
    present = {}
    for name, have in usable.items():
        mask = np.fromiter((s in have for s in ids.tolist()), dtype=bool, count=len(ids))
        if not mask.all():
            present[name] = mask
    return Alignment(ids, present, reasons)


def _warn_missing(
    manifest: Manifest, sets: dict[str, set[str]], among: set[str], report, infer: bool
) -> None:
    """One warning per modality that some of the subjects `among` (or, under "drop", of the union) lack."""
    if not among or all(among <= ids for ids in sets.values()):
        return
    for name, ids in sets.items():
        missing = sorted(among - ids)
        if not missing:
            continue
        n = len(missing)
        if infer:
            message = (
                f"{plural(n, 'subject')} {verb(n, 'lacks', 'lack')} '{name}': their latents for it are inferred "
                f"from their other modalities: {listing(missing)}."
            )
            hint = (
                f'add their {name} data if you have it; train.missing_modalities = "drop" leaves them out '
                "instead."
            )
        else:
            message = (
                f"{plural(n, 'subject')} {verb(n, 'has', 'have')} no '{name}' data and "
                f"{verb(n, 'is', 'are')} left out: {listing(missing)}."
            )
            hint = f"add their {name} data if they should be included; otherwise nothing to do."
        report.problems.append(
            Problem("warning", "missing_subjects", message, hint, file=manifest.modalities[name].path)
        )
