"""How far a run can be believed: every link's frequency across restarts and effect, every latent's stability.

The shown run is one of the restarts (the one training kept). Its latents are matched to each other restart's
(crl.analysis.stability), its links carried across, and each kept link's effect read from its flows
(crl.analysis.effects). Needs at least two restarts; crl.runs.confidence keeps their folders and the result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crl.analysis.stability import latent_stability, link_frequency, match_latents
from crl.errors import RunError
from crl.runs.confidence import RestartResult

# Below these, a latent or link is shown as not to be interpreted (faded, with the reason on hover).
RELIABLE_STABILITY = 0.7
RELIABLE_FREQUENCY = 0.8


def confidence_tables(
    model, shown: RestartResult, others: list[RestartResult], threshold: float
) -> tuple[pd.DataFrame, pd.Series]:
    """(source, target, frequency, effect for every candidate link; stability per latent) of the shown run.

    model: the shown run's model (for the effects); shown/others: restart folders read by crl.runs.confidence.
    """
    from crl.analysis.effects import link_effects  # torch: only when computing, not for the page's text

    if not others:
        raise RunError(
            "stability needs at least two restarts; train with train.restarts >= 2 or run `crl stability`"
        )
    stability = latent_stability(shown.latents, [o.latents for o in others])
    edges = link_frequency(
        shown.graph, [(o.graph, match_latents(shown.latents, o.latents)) for o in others], threshold
    )
    names = list(model.latent_names)
    z = shown.latents.loc[:, names].to_numpy(np.float32)
    effects = link_effects(model, z, threshold)
    index = {name: i for i, name in enumerate(names)}
    edges["effect"] = [
        effects[index[s], index[t]] if s in index and t in index else np.nan
        for s, t in zip(edges["source"], edges["target"], strict=True)
    ]
    return edges, stability


def update_run_confidence(run_dir, model, kept: int, threshold: float) -> tuple[pd.DataFrame, pd.Series]:
    """Compute the confidence of the run's shown restart `kept` against its other restarts, and write it."""
    from crl.runs.confidence import read_restarts, write_confidence

    restarts = read_restarts(run_dir)
    shown = next((r for r in restarts if r.index == kept), None)
    if shown is None:
        raise RunError(f"{run_dir} has no folder for its kept restart {kept}; retrain the run")
    edges, stability = confidence_tables(model, shown, [r for r in restarts if r.index != kept], threshold)
    write_confidence(run_dir, edges, stability)
    return edges, stability


def restart_recorders(run_dir, cohort, config) -> list:
    """The callbacks that keep each restart's results in the run folder (none for a single run)."""
    from crl.runs.confidence import RestartRecorder

    return [RestartRecorder(run_dir, cohort)] if config.train.restarts > 1 else []


def confidence_after_training(run_dir, result, config) -> None:
    """After a finished multi-restart training: write the run's edge_confidence.csv and latent_stability.csv."""
    from crl.runs.run import DEFAULT_THRESHOLD

    if config.train.restarts > 1 and not result.stopped_by_callback:
        try:
            update_run_confidence(run_dir, result.model, result.restart, DEFAULT_THRESHOLD)
        except RunError:
            # A restart folder lost to a crash: the trained run stands without its confidence, and
            # `crl stability RUN` retrains what is missing.
            pass


def describe_confidence(
    edges: pd.DataFrame | None, stability: pd.Series | None, restarts: int
) -> tuple[dict[str, str], dict[tuple[str, str], str], set[tuple[str, str]]]:
    """What the graph view says about a run's confidence, by latent name: (weak latents -> why not to read
    them, link -> hover lines on how often restarts found it and its effect, links found too rarely)."""
    weak: dict[str, str] = {}
    notes: dict[tuple[str, str], str] = {}
    rare: set[tuple[str, str]] = set()
    if stability is not None:
        for name, value in stability.items():
            if value < RELIABLE_STABILITY:
                weak[str(name)] = (
                    f"Not reliably recovered: trained again from other starting points, the model finds this latent "
                    f"with agreement {value:.2f} only (1 = the same latent every time). Do not interpret it or its links."
                )
    if edges is not None:
        for s, t, f, e in zip(
            edges["source"], edges["target"], edges["frequency"], edges["effect"], strict=True
        ):
            lines = [f"Found in {f:.0%} of {restarts} restarts"]
            if e == e:  # not NaN: a link of this run
                lines.append(f"Effect: {e:+.2f} SD of the effect per SD of the cause")
            notes[(str(s), str(t))] = "\n".join(lines)
            if f < RELIABLE_FREQUENCY:
                rare.add((str(s), str(t)))
    return weak, notes, rare
