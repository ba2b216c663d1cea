"""One sentence that says how well a run recovered the truth: what a presenter reads out before any number.

Per modality, the matched correlation (MCC) says whether its hidden causes were recovered (>= 0.8), partly
(>= 0.5) or not; the cross-modal part of the graph says how many links it got wrong and how.
"""

from __future__ import annotations

from collections.abc import Mapping

from crl.data.labels import Labels, readable_name

RECOVERED = 0.8
PARTLY = 0.5


def _grade(mcc: float) -> str:
    return "recovered" if mcc >= RECOVERED else "partly recovered" if mcc >= PARTLY else "not recovered"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def verdict(scores: Mapping, labels: Labels | None = None) -> str:
    """The verdict on `scores` (crl.analysis.evaluate.evaluate_run's result), e.g. "Sleep: partly recovered
    (MCC 0.71). Fundus left and fundus right: not recovered (0.08, 0.19). Across modalities the graph has 1
    extra, 5 missing and 0 reversed links against the truth.". Modalities go by their `labels` (cohort.toml)."""
    labels = labels or Labels()
    groups: dict[str, list[tuple[str, float, bool]]] = {}
    for modality, mcc in (scores.get("mcc_per_modality") or {}).items():
        name = labels.modality(str(modality))
        # A declared label keeps its capitals after the first name ("HbA1c panel"); readable names do not.
        groups.setdefault(_grade(float(mcc)), []).append((name, float(mcc), name == readable_name(modality)))
    sentences = []
    first = True
    for grade in ("recovered", "partly recovered", "not recovered"):
        if grade not in groups:
            continue
        names = [
            name if k == 0 or not readable else name[:1].lower() + name[1:]
            for k, (name, _, readable) in enumerate(groups[grade])
        ]
        values = ", ".join(f"{mcc:.2f}" for _, mcc, _ in groups[grade])
        sentences.append(f"{_listing(names)}: {grade} ({'MCC ' if first else ''}{values}).")
        first = False
    cross = ((scores.get("graph") or {}).get("cross")) or {}
    if cross:
        sentences.append(
            f"Across modalities the graph has {cross.get('additions', 0)} extra, {cross.get('deletions', 0)} "
            f"missing and {cross.get('reversals', 0)} reversed links against the truth."
        )
    return " ".join(sentences)
