"""How far each latent and link can be believed: agreement between runs of one configuration (restarts, seeds).

A latent is only defined up to order and sign inside its modality, so runs are compared after matching: within
each modality, Hungarian matching on the absolute correlation of the runs' latents over shared subjects, with
the sign of the correlation kept so that links can be carried across. A latent's **stability** is its mean
matched |corr| with the other runs; a link's **frequency** is the share of runs in which the matched link is
present at the threshold. The run to show is the one that agrees best with the others (`agreement_pick`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from crl.graphs.names import split_latent_name


@dataclass(frozen=True)
class Matched:
    """One latent of a run matched to a latent of the reference run: its name there, the sign, and |corr|."""

    latent: str
    sign: int
    correlation: float


def _signed_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of a (n, p) with every column of b (n, q); a constant column gives 0."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    norms = np.outer(np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (a.T @ b) / norms
    return np.clip(np.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


def _by_modality(columns: Sequence[str]) -> dict[str, list[str]]:
    blocks: dict[str, list[str]] = {}
    for column in columns:
        blocks.setdefault(split_latent_name(column)[0], []).append(column)
    return blocks


def match_latents(reference: pd.DataFrame, other: pd.DataFrame) -> dict[str, Matched]:
    """Each latent of `other` -> the reference latent it matches, within its modality.

    Both tables are (subjects, latents) indexed by subject ID, with columns `<modality>.z<k>`; only subjects in
    both are used. A modality with more latents in one run than the other leaves the extra ones unmatched.
    """
    subjects = reference.index.intersection(other.index)
    if len(subjects) < 3:
        raise ValueError("the two runs share fewer than 3 subjects; their latents cannot be compared")
    ref_blocks, other_blocks = _by_modality(reference.columns), _by_modality(other.columns)
    matched: dict[str, Matched] = {}
    for modality, theirs in other_blocks.items():
        ours = ref_blocks.get(modality, [])
        if not ours:
            continue
        corr = _signed_correlation(
            other.loc[subjects, theirs].to_numpy(float), reference.loc[subjects, ours].to_numpy(float)
        )
        rows, cols = linear_sum_assignment(np.abs(corr), maximize=True)
        for r, c in zip(rows, cols, strict=True):
            value = corr[r, c]
            matched[theirs[r]] = Matched(ours[c], 1 if value >= 0 else -1, float(abs(value)))
    return matched


def latent_stability(reference: pd.DataFrame, others: Sequence[pd.DataFrame]) -> pd.Series:
    """Per latent of `reference`: mean matched |corr| with the other runs (0 where a run has no match), 0..1."""
    if not others:
        raise ValueError("stability needs at least one other run to compare with")
    totals = pd.Series(0.0, index=list(reference.columns))
    for other in others:
        for match in match_latents(reference, other).values():
            totals[match.latent] += match.correlation
    return (totals / len(others)).rename("stability")


def agreement_pick(runs: Sequence[pd.DataFrame]) -> int:
    """Index of the run whose latents agree best with all the others' (mean matched |corr| over latents)."""
    if len(runs) < 2:
        return 0
    scores = [
        float(latent_stability(run, [o for j, o in enumerate(runs) if j != i]).mean())
        for i, run in enumerate(runs)
    ]
    return int(np.argmax(scores))


def carried_edges(
    edges: pd.DataFrame, matching: dict[str, Matched], threshold: float
) -> set[tuple[str, str]]:
    """The links of another run present at `threshold`, renamed to the reference run's latents.

    edges: that run's graph table (source, target, weight). Links whose ends have no match are dropped.
    """
    present = edges[edges["weight"] >= threshold]
    carried = set()
    for source, target in zip(present["source"], present["target"], strict=True):
        if source in matching and target in matching:
            carried.add((matching[source].latent, matching[target].latent))
    return carried


def link_frequency(
    reference_edges: pd.DataFrame,
    others: Sequence[tuple[pd.DataFrame, dict[str, Matched]]],
    threshold: float,
) -> pd.DataFrame:
    """Per candidate link of the reference run: the share of runs (the reference included) where it is present.

    others: each other run's graph table with its `match_latents(reference_latents, its_latents)`.
    Returns source, target, weight (the reference's), frequency (0..1).
    """
    table = reference_edges[["source", "target", "weight"]].copy()
    counts = (table["weight"] >= threshold).to_numpy(dtype=float, copy=True)
    for edges, matching in others:
        carried = carried_edges(edges, matching, threshold)
        counts += np.array([(s, t) in carried for s, t in zip(table["source"], table["target"], strict=True)])
    table["frequency"] = counts / (len(others) + 1)
    return table.reset_index(drop=True)


def compare_links(
    left_latents: pd.DataFrame,
    left_edges: pd.DataFrame,
    right_latents: pd.DataFrame,
    right_edges: pd.DataFrame,
    threshold: float,
) -> tuple[dict[str, Matched], pd.DataFrame]:
    """Two runs (or two sparsity levels) side by side, in the left run's latent names.

    Returns the matching (right latent -> left latent) and one row per link present in either at `threshold`:
    source, target (left names), left and right weights (the right's carried through the matching; NaN where
    the right has no such link) and where it is: "both", "only left" or "only right".
    """
    matching = match_latents(left_latents, right_latents)
    left = left_edges[left_edges["weight"] >= threshold]
    left_weights = {
        (s, t): float(w) for s, t, w in zip(left["source"], left["target"], left["weight"], strict=True)
    }
    right_weights: dict[tuple[str, str], float] = {}
    for s, t, w in zip(right_edges["source"], right_edges["target"], right_edges["weight"], strict=True):
        if w >= threshold and s in matching and t in matching:
            right_weights[(matching[s].latent, matching[t].latent)] = float(w)
    rows = []
    for pair in sorted(set(left_weights) | set(right_weights)):
        where = (
            "both"
            if pair in left_weights and pair in right_weights
            else ("only left" if pair in left_weights else "only right")
        )
        rows.append((*pair, left_weights.get(pair, np.nan), right_weights.get(pair, np.nan), where))
    table = pd.DataFrame(rows, columns=["source", "target", "left_weight", "right_weight", "where"])
    return matching, table
