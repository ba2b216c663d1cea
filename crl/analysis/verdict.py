"""One sentence that says how well a run recovered the truth: what a presenter reads out before any number.

Per modality, the matched correlation (MCC) says whether its hidden causes were recovered (>= 0.8), partly
(>= 0.5) or not; the cross-modal part of the graph says how many links it got wrong and how.
"""

from __future__ import annotations

from collections.abc import Mapping

from crl.analysis.names import modality_title

RECOVERED = 0.8
PARTLY = 0.5


def _grade(mcc: float) -> str:
    return "recovered" if mcc >= RECOVERED else "partly recovered" if mcc >= PARTLY else "not recovered"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def verdict(scores: Mapping) -> str:
    """The verdict on `scores` (crl.analysis.evaluate.evaluate_run's result), e.g. "Sleep: partly recovered
    (MCC 0.71). Fundus left and fundus right: not recovered (0.08, 0.19). Across modalities the graph has 1
    extra, 5 missing and 0 reversed links against the truth."."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for modality, mcc in (scores.get("mcc_per_modality") or {}).items():
        groups.setdefault(_grade(float(mcc)), []).append((modality_title(str(modality)), float(mcc)))
    sentences = []
    first = True
    for grade in ("recovered", "partly recovered", "not recovered"):
        if grade not in groups:
            continue
        names = [name if k == 0 else name.lower() for k, (name, _) in enumerate(groups[grade])]
        values = ", ".join(f"{mcc:.2f}" for _, mcc in groups[grade])
        sentences.append(f"{_listing(names)}: {grade} ({'MCC ' if first else ''}{values}).")
        first = False
    cross = ((scores.get("graph") or {}).get("cross")) or {}
    if cross:
        sentences.append(
            f"Across modalities the graph has {cross.get('additions', 0)} extra, {cross.get('deletions', 0)} "
            f"missing and {cross.get('reversals', 0)} reversed links against the truth."
        )
    return " ".join(sentences)
