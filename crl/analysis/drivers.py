"""Which observed features move most with each learned latent: hover text that tells a clinician what a latent is.

Association, not effect: the strongest |Pearson correlation| between a latent (latents.csv) and each observed
feature, taken from the latent's own modality, since that is the data its decoder draws. The features are the
modality summaries of crl.data.features.
"""

from __future__ import annotations

from crl.data.features import observed_features, top_features  # noqa: F401 - callers import them here
from crl.data.labels import Labels


def describe_drivers(
    drivers: list[tuple[str, float]], min_abs: float = 0.2, labels: Labels | None = None
) -> str:
    """Hover text: one line per feature with |r| >= min_abs, e.g. "sleep: spo2 (mean over time) (r = −0.82)",
    or with the cohort's `labels` "Home sleep test: SpO2 (mean over time) (r = −0.82)".

    Weaker associations are left out rather than listed as if they meant something; when none is left the
    text says so (images are summarised only by mean colour, which rarely tracks a latent).
    """
    if not drivers:
        return ""
    strong = [(label, r) for label, r in drivers if abs(r) >= min_abs]
    if not strong:
        return f"No summary feature of its modality moves with it (every |r| < {min_abs:g})."
    lines = ["Moves most with:"]
    shown = labels.driver if labels is not None else str
    lines += [f"{shown(label)} (r = {f'{r:+.2f}'.replace('-', '−')})" for label, r in strong]
    return "\n".join(lines)
