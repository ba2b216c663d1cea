"""How far a run can be believed: every link's frequency across restarts and effect, every latent's stability
and cross-modal share.

The shown run is one of the restarts (the one training kept). Its latents are matched to each other restart's
(crl.analysis.stability), its links carried across, and each kept link's effect read from its flows
(crl.analysis.effects). That needs at least two restarts; crl.runs.confidence keeps their folders and the
result. The cross-modal share (crl.analysis.cross_modal) needs only the run's latents, so a run trained once has
it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from crl.analysis.cross_modal import WEAK_CROSS_MODAL, cross_modal_share
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
    """Compute the confidence of the run's shown restart `kept` against its other restarts, and write it.

    The shown restart's latents are the run's own latents.csv when it has one: its restart folder was recorded
    before the latents were turned to their canonical signs (crl.engine.orientation), and the effects must be
    read with the latents the saved model produces.
    """
    from crl.runs.confidence import read_restarts, replace_restart_latents, write_confidence
    from crl.runs.run import Run

    restarts = read_restarts(run_dir)
    shown = next((r for r in restarts if r.index == kept), None)
    if shown is None:
        raise RunError(f"{run_dir} has no folder for its kept restart {kept}; retrain the run")
    if Run(run_dir).has_latents:
        shown = replace(shown, latents=Run(run_dir).latents())
        replace_restart_latents(run_dir, kept, shown.latents)
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


@dataclass(frozen=True)
class Confidence:
    """A run's trustworthiness as its readers use it: edge_confidence.csv (source, target, frequency, effect) and
    latent_stability.csv with how many restarts they come from (crl.runs.confidence; None when trained once),
    and each latent's cross-modal share (None with a single modality)."""

    edges: pd.DataFrame | None
    stability: pd.Series | None
    restarts: int
    cross_modal: pd.Series | None = None

    @classmethod
    def of_run(cls, run_dir) -> Confidence | None:
        """The run's confidence, or None when nothing about it can be measured (no latents, no restarts)."""
        from crl.runs.confidence import read_confidence, restart_count
        from crl.runs.run import Run

        edges, stability = read_confidence(run_dir)
        cross = None
        run = Run(run_dir)
        if run.has_latents:
            try:
                latents = run.latents()
                inferred = run.inferred()
                if inferred.map(bool).any():  # inferred latents are functions of the others: measure without
                    latents = latents.loc[inferred.index[~inferred.map(bool)]]
                share = cross_modal_share(latents)
                cross = share if share.notna().any() else None
            except RunError:
                cross = None  # an unreadable latents.csv: the page says so where it reads it
        if edges is None and stability is None and cross is None:
            return None
        return cls(edges, stability, restart_count(run_dir) if stability is not None else 0, cross)

    @property
    def has_restarts(self) -> bool:
        """Whether agreement across restarts was measured (a run trained once has only its cross-modal share)."""
        return self.stability is not None or self.edges is not None

    @cached_property
    def _links(self) -> dict[tuple[str, str], tuple[float, float]]:
        if self.edges is None:
            return {}
        e = self.edges
        return {
            (str(s), str(t)): (float(f), float(x))
            for s, t, f, x in zip(e["source"], e["target"], e["frequency"], e["effect"], strict=True)
        }

    def stability_of(self, latent: str) -> float | None:
        """The latent's stability (0..1), or None when it was not measured."""
        if self.stability is None or latent not in self.stability.index:
            return None
        return float(self.stability[latent])

    def link(self, source: str, target: str) -> tuple[float, float]:
        """(frequency, effect) of a link; NaN for what was not measured (effect: links below the threshold)."""
        return self._links.get((source, target), (math.nan, math.nan))

    def cross_modal_of(self, latent: str) -> float | None:
        """The latent's cross-modal share (held-out R² from the other modalities' latents), or None."""
        if self.cross_modal is None or latent not in self.cross_modal.index:
            return None
        value = float(self.cross_modal[latent])
        return None if math.isnan(value) else value

    def is_weak(self, latent: str) -> bool:
        return self.weak_reason(latent) is not None

    def weak_reason(self, latent: str) -> str | None:
        """Why the latent should not be interpreted, in plain words, or None when nothing speaks against it."""
        reasons = []
        stability = self.stability_of(latent)
        if stability is not None and stability < RELIABLE_STABILITY:
            reasons.append(
                f"trained again from other starting points, the model finds it with agreement {stability:.2f} "
                "only (1 = the same latent every time)"
            )
        share = self.cross_modal_of(latent)
        if share is not None and share < WEAK_CROSS_MODAL:
            reasons.append(
                f"the other modalities predict {max(share, 0.0):.0%} of it, so the data show no footprint of it "
                "outside its own modality, which is what recovering a latent rests on"
            )
        if not reasons:
            return None
        return "Not reliably recovered: " + "; and ".join(reasons) + ". Do not interpret it or its links."

    def for_network(
        self, names: list[str]
    ) -> tuple[dict[int, str], dict[tuple[int, int], str], set[tuple[int, int]]]:
        """What the network view draws, by position in `names`: weak latents -> why not to read them, link ->
        hover lines (how often restarts found it, its effect), and the links found too rarely (drawn faint)."""
        weak = {i: reason for i, n in enumerate(names) if (reason := self.weak_reason(n)) is not None}
        index = {n: i for i, n in enumerate(names)}
        notes: dict[tuple[int, int], str] = {}
        rare: set[tuple[int, int]] = set()
        for (s, t), (frequency, effect) in self._links.items():
            if s not in index or t not in index:
                continue
            pair = (index[s], index[t])
            lines = [f"Found in {frequency:.0%} of {self.restarts} restarts"]
            if not math.isnan(effect):  # measured for the run's own links only
                lines.append(f"Effect: {effect:+.2f} SD of the effect per SD of the cause")
            notes[pair] = "\n".join(lines)
            if frequency < RELIABLE_FREQUENCY:
                rare.add(pair)
        return weak, notes, rare
