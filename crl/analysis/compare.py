"""A learned graph against a synthetic cohort's true graph, at any threshold, after matching latents once.

Matching (docs/method.md §6) is the slow part and does not depend on the threshold, so it is computed once
(`match_to_truth`) and every threshold reuses it (`compare_graph`): a slider can redraw the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crl.analysis.metrics import SHDResult, abs_correlation, map_graph, mcc_per_block, shd
from crl.data.truth import Truth
from crl.errors import RunError
from crl.graphs.dag import cross_modal_mask
from crl.graphs.names import blocks_of

MIN_SUBJECTS = 20


@dataclass
class TruthMatch:
    """Learned latents paired with true ones, within each modality.

    corr: `(n_true, n_learned)` |Pearson correlation| over shared subjects; matching: true index -> learned
    index; mcc / mcc_per_modality: mean matched |corr| (over all matched pairs / per modality).
    """

    true_names: list[str]
    learned_names: list[str]
    corr: np.ndarray
    matching: dict[int, int]
    mcc: float
    mcc_per_modality: dict[str, float]
    true_adjacency: np.ndarray
    subjects: int

    @property
    def learned_to_true(self) -> dict[str, str]:
        return {self.learned_names[e]: self.true_names[t] for t, e in self.matching.items()}


def match_to_truth(latents: pd.DataFrame, truth: Truth) -> TruthMatch:
    """Matches learned latents (indexed by subject_id, columns `<modality>.z<k>`) to the true ones."""
    latents = latents.set_axis(latents.index.astype(str))
    common = truth.latents.index.intersection(latents.index)
    if len(common) < MIN_SUBJECTS:
        raise RunError(
            f"only {len(common)} subjects are shared by the run's latents and the cohort's truth; "
            "open the cohort this run was trained on"
        )
    true_names, learned_names = truth.latent_names, [str(c) for c in latents.columns]
    true_blocks, learned_blocks = blocks_of(true_names), blocks_of(learned_names)
    if set(true_blocks) != set(learned_blocks):
        raise RunError(
            f"the run's modalities {sorted(learned_blocks)} differ from the truth's {sorted(true_blocks)}; "
            "open the cohort this run was trained on"
        )
    true = truth.latents.loc[common].to_numpy(float)
    est = latents.loc[common].to_numpy(float)
    result = mcc_per_block(true, est, true_blocks, learned_blocks)
    return TruthMatch(
        true_names=true_names,
        learned_names=learned_names,
        corr=abs_correlation(true, est),
        matching=dict(result.matching),
        mcc=float(result.within_blocks),
        mcc_per_modality={name: float(r.value) for name, r in result.per_block.items()},
        true_adjacency=truth.adjacency().astype(int),
        subjects=int(len(common)),
    )


def compare_graph(
    match: TruthMatch,
    learned_adjacency: np.ndarray,
    labels: Mapping[str, str] | None = None,
    true_labels: Mapping[str, str] | None = None,
) -> tuple[SHDResult, pd.DataFrame]:
    """SHD and edge scores of a learned 0/1 adjacency `(d, d)` (learned order, source row), and an edge table.

    The table has one row per pair that is an edge in either graph: `learned` (source → target in learned
    names, or ""), `true` (in true names, or ""), `status` (found, missing, extra, reversed), `cross_modal`.
    Learned edges touching a latent left unmatched are not scored (they have no true counterpart).
    labels: display names for learned latents in the table (default: their column names).
    true_labels: the same for true latents (the cohort's plain names, as the Evaluate page shows them).
    """
    labels, true_labels = labels or {}, true_labels or {}
    shown = [labels.get(n, n) for n in match.learned_names]
    true_shown = [true_labels.get(n, n) for n in match.true_names]
    n_true = len(match.true_names)
    mapped = map_graph(np.asarray(learned_adjacency).astype(int), match.matching, n_true=n_true)
    blocks = blocks_of(match.true_names)
    cross = cross_modal_mask(blocks, n_true)
    result = shd(match.true_adjacency, mapped, cross_mask=cross)
    truth, est = match.true_adjacency.astype(bool), mapped.astype(bool)
    rows = []
    for i in range(n_true):
        for j in range(n_true):
            if i == j or not (truth[i, j] or est[i, j]):
                continue
            learned = ""
            if est[i, j]:
                learned = f"{shown[match.matching[i]]} → {shown[match.matching[j]]}"
            true_edge = f"{true_shown[i]} → {true_shown[j]}" if truth[i, j] else ""
            if truth[i, j] and est[i, j]:
                status = "found"
            elif est[i, j] and truth[j, i] and not est[j, i]:
                status = "reversed"
            elif truth[i, j] and est[j, i] and not truth[j, i]:
                continue  # the same reversed pair, already listed from the learned side
            elif truth[i, j]:
                status = "missing"
            else:
                status = "extra"
            if status == "reversed":
                true_edge = f"{true_shown[j]} → {true_shown[i]}"
            rows.append((learned, true_edge, status, bool(cross[i, j])))
    table = pd.DataFrame(rows, columns=["learned", "true", "status", "cross_modal"])
    order = {"missing": 0, "reversed": 1, "extra": 2, "found": 3}  # mistakes first: what a reader looks for
    table = table.sort_values("status", key=lambda s: s.map(order), kind="stable", ignore_index=True)
    return result, table
