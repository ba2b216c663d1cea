"""Evaluation metrics against a known truth: MCC, held-out R², SHD and edge precision/recall/F1 (numpy in, numbers out).

Graph convention used throughout this module: a binary adjacency `A` of shape (n, n) with
`A[i, j] = 1` meaning **i -> j** (source row, target column). The learnable graph of docs/method.md §3 stores
the transpose (`A_ij > 0` means z_j is a parent of z_i): pass `model_adjacency.T` here. Self-loops
(the diagonal) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

# ---------------------------------------------------------------------------------------------- MCC


@dataclass
class MCCResult:
    """Mean absolute correlation over a one-to-one matching of true to estimated latents.

    value: mean |corr| over matched pairs. matching: true column -> estimated column.
    corr: the full absolute correlation matrix, (k_true, k_est); NaN (a constant column) counts as 0.
    """

    value: float
    matching: dict[int, int]
    corr: np.ndarray
    method: str = "pearson"

    @property
    def per_latent(self) -> dict[int, float]:
        """|corr| of each matched true latent with its estimate."""
        return {t: float(self.corr[t, e]) for t, e in self.matching.items()}

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "method": self.method,
            "matching": {str(t): e for t, e in self.matching.items()},
            "per_latent": {str(t): v for t, v in self.per_latent.items()},
        }


def _as_2d(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{what} must be (N, k), got shape {x.shape}")
    return x


def abs_correlation(true: np.ndarray, est: np.ndarray, method: str = "pearson") -> np.ndarray:
    """|corr| between every true column and every estimated column: (N, k_true), (N, k_est) -> (k_true, k_est)."""
    true, est = _as_2d(true, "true"), _as_2d(est, "est")
    if true.shape[0] != est.shape[0]:
        raise ValueError(f"true has {true.shape[0]} rows but est has {est.shape[0]}")
    if method == "spearman":
        # Spearman = Pearson on ranks; ties get average ranks.
        true, est = rankdata(true, axis=0), rankdata(est, axis=0)
    elif method != "pearson":
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    a = true - true.mean(axis=0)
    b = est - est.mean(axis=0)
    na, nb = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (a.T @ b) / np.outer(na, nb)
    # A constant column carries no information about any latent.
    return np.clip(np.nan_to_num(np.abs(corr), nan=0.0, posinf=0.0), 0.0, 1.0)


def mcc(true: np.ndarray, est: np.ndarray, method: str = "pearson") -> MCCResult:
    """Mean correlation coefficient after Hungarian matching: true (N, k_true), est (N, k_est).

    With k_true != k_est only min(k_true, k_est) pairs are matched and averaged.
    """
    corr = abs_correlation(true, est, method)
    rows, cols = linear_sum_assignment(corr, maximize=True)
    matching = {int(r): int(c) for r, c in zip(rows, cols, strict=True)}
    value = float(corr[rows, cols].mean()) if len(rows) else float("nan")
    return MCCResult(value=value, matching=matching, corr=corr, method=method)


@dataclass
class BlockMCCResult:
    """MCC per modality (matching restricted to each modality's block) plus an unrestricted global MCC.

    within_blocks: mean |corr| over all pairs matched inside blocks (the union of the per-block matchings).
    matching: that union, true column -> estimated column in global indices; use it for `map_graph`, since it
    never maps a latent onto another modality's latent.
    """

    global_: MCCResult
    per_block: dict[str, MCCResult]
    within_blocks: float
    matching: dict[int, int]

    def to_dict(self) -> dict:
        return {
            "global": self.global_.to_dict(),
            "within_blocks": self.within_blocks,
            "per_block": {k: v.to_dict() for k, v in self.per_block.items()},
            "matching": {str(t): e for t, e in self.matching.items()},
        }


def mcc_per_block(
    true: np.ndarray,
    est: np.ndarray,
    true_blocks: Mapping[str, Sequence[int]],
    est_blocks: Mapping[str, Sequence[int]],
    method: str = "pearson",
) -> BlockMCCResult:
    """Per-modality MCC: blocks map a modality name to its column indices in `true` (N, k_true) / `est` (N, k_est).

    Per-block results report matchings and `corr` in global column indices / the block's sub-matrix
    respectively. Both block maps must name the same modalities.
    """
    if set(true_blocks) != set(est_blocks):
        raise ValueError(
            f"true and estimated blocks name different modalities: {sorted(true_blocks)} vs {sorted(est_blocks)}"
        )
    true, est = _as_2d(true, "true"), _as_2d(est, "est")
    per_block: dict[str, MCCResult] = {}
    matching: dict[int, int] = {}
    matched: list[float] = []
    for name in true_blocks:
        t_idx, e_idx = list(true_blocks[name]), list(est_blocks[name])
        local = mcc(true[:, t_idx], est[:, e_idx], method)
        global_matching = {t_idx[t]: e_idx[e] for t, e in local.matching.items()}
        per_block[name] = MCCResult(local.value, global_matching, local.corr, method)
        matching.update(global_matching)
        matched.extend(local.corr[t, e] for t, e in local.matching.items())
    within = float(np.mean(matched)) if matched else float("nan")
    return BlockMCCResult(mcc(true, est, method), per_block, within, matching)


# ---------------------------------------------------------------------------------------------- R²


@dataclass
class R2Result:
    """Held-out R² of each true latent regressed on all estimated latents; `mean` averages `per_latent`."""

    per_latent: np.ndarray
    mean: float

    def to_dict(self) -> dict:
        return {"mean": self.mean, "per_latent": [float(v) for v in self.per_latent]}


def _kernel(a: np.ndarray, b: np.ndarray, lengthscale: float) -> np.ndarray:
    """RBF plus a linear kernel: the linear part keeps near-linear relations cheap to learn in many dimensions."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.exp(-np.maximum(sq, 0.0) / (2.0 * lengthscale**2)) + (a @ b.T) / a.shape[1]


def r2_heldout(
    true: np.ndarray,
    est: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    max_train: int = 1500,
    ridges: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0),
    lengthscales: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    seed: int = 0,
) -> R2Result:
    """How much of each true latent a nonlinear regressor recovers from the estimates, on held-out rows.

    true (N, k_true), est (N, k_est); train_idx / test_idx index rows. Regressor: kernel ridge regression on
    standardised estimates with an RBF-plus-linear kernel, fitted on at most `max_train` training rows drawn
    with `seed` (the solve is O(n³), so subsampling keeps it to a second or two). Per true latent, the ridge
    strength (`ridges`) and the RBF lengthscale (`lengthscales` × the median pairwise distance) are chosen on a
    20 % validation part of those rows, then refitted on all of them. Kernel ridge rather than polynomial
    features because it stays cheap for many latents (24 latents at degree 3 would be ~2900 features) and
    fits any smooth invertible map; the linear part stops it from falling below plain linear regression in
    high dimension. R² = 1 − SSE / SST on the test rows, not clipped: a useless regressor scores about 0.
    """
    true, est = _as_2d(true, "true"), _as_2d(est, "est")
    train_idx, test_idx = np.asarray(train_idx), np.asarray(test_idx)
    if len(train_idx) < 10 or len(test_idx) < 2:
        raise ValueError("r2_heldout needs at least 10 training rows and 2 test rows")
    rng = np.random.default_rng(seed)
    if len(train_idx) > max_train:
        train_idx = rng.choice(train_idx, size=max_train, replace=False)
    centre = est[train_idx].mean(0)
    scale = est[train_idx].std(0)
    scale[scale == 0] = 1.0
    x_train = (est[train_idx] - centre) / scale
    x_test = (est[test_idx] - centre) / scale
    y_train, y_test = true[train_idx], true[test_idx]

    sq = (x_train * x_train).sum(1)[:, None] + (x_train * x_train).sum(1)[None, :] - 2.0 * x_train @ x_train.T
    median = float(np.median(np.sqrt(np.maximum(sq[np.triu_indices(len(x_train), 1)], 0.0)))) or 1.0

    y_mean = y_train.mean(0)
    y_c = y_train - y_mean
    n_val = max(2, len(train_idx) // 5)
    perm = rng.permutation(len(train_idx))
    val, fit = perm[:n_val], perm[n_val:]
    n_latent = true.shape[1]
    best_ls = np.full(n_latent, median * lengthscales[0])
    best_lam = np.full(n_latent, float(ridges[0]))
    best_err = np.full(n_latent, np.inf)
    for factor in lengthscales:
        ls = median * factor
        # One eigendecomposition serves every ridge value.
        evals, evecs = np.linalg.eigh(_kernel(x_train[fit], x_train[fit], ls))
        k_val = _kernel(x_train[val], x_train[fit], ls)
        proj = evecs.T @ y_c[fit]
        for lam in ridges:
            alpha = evecs @ (proj / (evals[:, None] + lam * len(fit)))
            err = ((k_val @ alpha - y_c[val]) ** 2).mean(0)
            better = err < best_err
            best_ls[better], best_lam[better], best_err[better] = ls, lam, err[better]

    pred = np.empty_like(y_test)
    for ls in np.unique(best_ls):
        cols = np.nonzero(best_ls == ls)[0]
        evals, evecs = np.linalg.eigh(_kernel(x_train, x_train, ls))
        proj = evecs.T @ y_c[:, cols]
        alpha = evecs @ (proj / (evals[:, None] + best_lam[cols][None, :] * len(x_train)))
        pred[:, cols] = _kernel(x_test, x_train, ls) @ alpha + y_mean[cols]
    sse = ((y_test - pred) ** 2).sum(0)
    sst = ((y_test - y_test.mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(sst > 0, 1.0 - sse / sst, np.nan)
    return R2Result(per_latent=r2, mean=float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan"))


# ---------------------------------------------------------------------------------------------- SHD


@dataclass
class SHDResult:
    """Structural Hamming distance between a true and an estimated directed graph, with edge scores.

    additions: estimated edges on pairs the truth leaves unconnected (or extra directions);
    deletions: true edges missing from the estimate; reversals: a single edge pointing the wrong way
    (counted once, not as a deletion plus an addition). total = additions + deletions + reversals.
    Adjacency scores compare skeletons (unordered pairs); orientation scores compare directed edges.
    Precision with nothing predicted, or recall with nothing to find, is 1.0; F1 is 0 when both are 0.
    cross: the same numbers restricted to cross-modal pairs when a `cross_mask` was given.
    """

    additions: int
    deletions: int
    reversals: int
    total: int
    adjacency_precision: float
    adjacency_recall: float
    adjacency_f1: float
    orientation_precision: float
    orientation_recall: float
    orientation_f1: float
    cross: SHDResult | None = field(default=None)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "cross"}
        if self.cross is not None:
            out["cross"] = self.cross.to_dict()
        return out


def _binary(adj: np.ndarray, what: str) -> np.ndarray:
    adj = np.asarray(adj)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"{what} must be a square (n, n) adjacency, got shape {adj.shape}")
    out = adj != 0
    np.fill_diagonal(out, False)
    return out


def _prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def _shd_on_pairs(t: np.ndarray, e: np.ndarray, pairs: np.ndarray) -> SHDResult:
    """Counts over the unordered pairs `pairs` (a boolean upper-triangular (n, n) mask)."""
    i, j = np.nonzero(pairs)
    t_ij, t_ji, e_ij, e_ji = t[i, j], t[j, i], e[i, j], e[j, i]
    t_one = t_ij ^ t_ji
    reversed_ = t_one & (e_ij ^ e_ji) & (t_ij == e_ji)
    other = ~reversed_
    additions = int(((e_ij & ~t_ij) & other).sum() + ((e_ji & ~t_ji) & other).sum())
    deletions = int(((t_ij & ~e_ij) & other).sum() + ((t_ji & ~e_ji) & other).sum())
    reversals = int(reversed_.sum())

    t_adj, e_adj = t_ij | t_ji, e_ij | e_ji
    adj = _prf(int((t_adj & e_adj).sum()), int(e_adj.sum()), int(t_adj.sum()))
    n_true = int(t_ij.sum() + t_ji.sum())
    n_est = int(e_ij.sum() + e_ji.sum())
    ori = _prf(int((t_ij & e_ij).sum() + (t_ji & e_ji).sum()), n_est, n_true)
    return SHDResult(additions, deletions, reversals, additions + deletions + reversals, *adj, *ori)


def shd(true_adj: np.ndarray, est_adj: np.ndarray, *, cross_mask: np.ndarray | None = None) -> SHDResult:
    """SHD and precision/recall/F1 between binary adjacencies (n, n), `A[i, j] != 0` meaning i -> j.

    cross_mask (n, n): True where the pair (i, j) spans two modalities (symmetric; either entry counts);
    see `cross_modal_mask`. Map estimated latents onto true ones first with `map_graph`.
    """
    t, e = _binary(true_adj, "true_adj"), _binary(est_adj, "est_adj")
    if t.shape != e.shape:
        raise ValueError(f"adjacencies differ in shape: {t.shape} vs {e.shape}; map with map_graph first")
    upper = np.triu(np.ones_like(t, dtype=bool), 1)
    result = _shd_on_pairs(t, e, upper)
    if cross_mask is not None:
        mask = np.asarray(cross_mask, dtype=bool)
        if mask.shape != t.shape:
            raise ValueError(f"cross_mask has shape {mask.shape}, expected {t.shape}")
        result.cross = _shd_on_pairs(t, e, upper & (mask | mask.T))
    return result


def map_graph(est_adj: np.ndarray, matching: Mapping[int, int], n_true: int | None = None) -> np.ndarray:
    """Re-index an estimated adjacency (k_est, k_est) into true-latent order (n_true, n_true).

    matching: true index -> estimated index (e.g. `MCCResult.matching`). Unmatched true latents get no
    edges. n_true defaults to one past the largest matched true index.
    """
    est = np.asarray(est_adj)
    if n_true is None:
        n_true = max(matching, default=-1) + 1
    out = np.zeros((n_true, n_true), dtype=est.dtype)
    true_idx = np.array(list(matching.keys()), dtype=int)
    est_idx = np.array(list(matching.values()), dtype=int)
    if len(true_idx):
        out[np.ix_(true_idx, true_idx)] = est[np.ix_(est_idx, est_idx)]
    return out
