"""Which modalities' latents a latent graph lets the data pin down one by one (docs/method.md §2, §5b).

Convention: a binary adjacency `A` (n, n) with `A[i, j] = 1` meaning **i -> j** (source row, target column),
as in `crl.analysis.metrics`. The learnable graph of docs/method.md §3 stores the transpose: pass `model_adjacency.T`.

Derivation. Latents follow z_i = f_i(Pa(z_i), ε_i). Write G for the Jacobian of the mechanisms with respect to
the latents, G[i, j] = ∂f_i/∂z_j, nonzero exactly where j -> i (so supp G = Aᵀ); block G_mn holds the links
from modality n into modality m. Reparameterise within blocks, z' = T z with T = blockdiag(T_1, …, T_M)
invertible (for a nonlinear map, T is its Jacobian at a point and the argument holds pointwise). Modality m's
mechanism in the new coordinates is z'_m = T_m f_m(T⁻¹ z', ε_m), whose direct derivative with respect to z'_n
(n ≠ m) is, by the chain rule,

    G'_mn = T_m G_mn T_n⁻¹.

(With z = S z', S = T⁻¹, this is docs/method.md's S_m⁻¹ G_mn S_n.) Within-modality blocks become T_m G_mm T_m⁻¹;
the estimator does not penalise them, so they never enter the count. The estimator prefers the solution with
the fewest cross-modal links, so latent recovery is component-wise exactly when every T that is not a scaled
permutation in some modality strictly increases the number of nonzeros in the cross-modal blocks.

Generic values. The mechanisms are nonlinear, so the nonzero entries of G are generic. Entry (i, j) of
T_m G_mn T_n⁻¹ is Σ_kl T_m[i, k] G[k, l] T_n⁻¹[l, j], a sum of distinct monomials in the free entries of G, so
it is nonzero exactly when some path i <-T_m- k <-G- l <-T_n⁻¹- j exists: the count is that of the boolean
product of supports. Three consequences keep the search small and make it exact:

1. Permutations change no count, and every invertible T_m contains a perfect matching P, so we may take
   P⁻¹T_m, whose diagonal is nonzero. We enumerate only those supports: 2^(k(k−1)) per block of k latents.
2. With a nonzero diagonal, supp T⁻¹ is the reflexive-transitive closure of supp T, so the count only grows
   as the support of T grows, and never falls below the original. Hence a violation exists iff a single
   off-diagonal entry, the remix z_i' = z_i + c·z_j, keeps the count; and latent i is pinned down one by one
   iff no such remix with that i keeps it.
3. Varying one modality at a time, the others fixed at the identity, is enough in both directions. A
   violation found that way is a violation. Conversely, for a joint T that is not a permutation in modality
   m, each other T_n contains a permutation P_n and T_n⁻¹ contains P_nᵀ, so the joint count is at least the
   count with T_m alone; if modality m passes alone, the joint T strictly increases the count.
4. In plain terms (from item 2): z_i' = z_i + c·z_j keeps the count exactly when every cross-modal parent of
   z_j is also a parent of z_i, and every cross-modal child of z_i is also a child of z_j. The chain of
   docs/method.md §5b (a -> z0 -> z1 -> c) fails because z1 has no cross-modal parent and z0 no cross-modal child.

The exact mode (blocks up to `max_exact` = 4 latents) enumerates every support of item 1 numerically, with
fresh random values for T (diagonally dominant, so inverses are well conditioned) and for G in each of several
draws, and requires the draws to agree with each other and with the boolean computation. Larger blocks use a
randomised mode: all k(k−1) single-entry remixes (enough by item 2) plus random sparse supports, stated in
the report's limits. Tests check that both modes give the same answer on small blocks.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from crl.errors import CrlError

MAX_EXACT = 4
DRAWS = 3
RANDOM_SUPPORTS = 400
_RELATIVE_TOLERANCE = 1e-9


@dataclass
class Witness:
    """A within-modality remix that keeps the cross-modal link count: proof the modality is only block-identified.

    support: (k, k) 0/1 support of T_m in the modality's latent order (z' = T z); mixes: (latent, absorbed
    latent) pairs, the off-diagonal entries of `support`.
    """

    support: list[list[int]]
    mixes: list[tuple[str, str]]
    cross_links: int
    text: str

    @property
    def plain(self) -> str:
        """The finding in one plain sentence, for hover text; `text` is the technical version."""
        involved = list(dict.fromkeys(name for pair in self.mixes for name in pair))
        together = involved[0] if len(involved) == 1 else ", ".join(involved[:-1]) + " and " + involved[-1]
        if self.cross_links == 0:
            return (
                "This modality has no link to another one, so the data cannot tell its latents apart: read "
                "them as a group, not one by one."
            )
        return (
            f"The data cannot tell {together} apart: mixed together they fit the links across modalities just as "
            "well, so read them as a group, not one by one."
        )

    def to_dict(self) -> dict:
        return {
            "support": self.support,
            "mixes": [list(m) for m in self.mixes],
            "cross_links": self.cross_links,
            "text": self.text,
        }


@dataclass
class ModalityResult:
    """The check for one modality: identified one by one or not, why, and which latents are still pinned down.

    mixable: every (latent, other) pair such that an estimate of `latent` may absorb `other` (z_i + c·z_j)
    without adding a cross-modal link; `block_only` lists those latents, `pinned` the others.
    """

    name: str
    latents: list[str]
    identified: bool
    method: str
    supports_checked: int
    mixable: list[tuple[str, str]]
    pinned: list[str]
    block_only: list[str]
    witness: Witness | None
    cross_links: int

    def to_dict(self) -> dict:
        return {
            "latents": self.latents,
            "identified": self.identified,
            "method": self.method,
            "supports_checked": self.supports_checked,
            "cross_links": self.cross_links,
            "pinned": self.pinned,
            "block_only": self.block_only,
            "mixable": [list(m) for m in self.mixable],
            "witness": self.witness.to_dict() if self.witness else None,
        }


@dataclass
class IdentifiabilityReport:
    """Per-modality component-wise identifiability of a latent graph, with witnesses and the check's limits."""

    modalities: dict[str, ModalityResult]
    cross_links: int
    method: str
    draws: int
    seed: int
    limits: list[str] = field(default_factory=list)
    disagreements: int = 0

    @property
    def identified(self) -> bool:
        """True when every modality's latents are identified one by one."""
        return all(m.identified for m in self.modalities.values())

    @property
    def block_only(self) -> list[str]:
        """Latents identified only together with others of their modality."""
        return [name for m in self.modalities.values() for name in m.block_only]

    def to_dict(self) -> dict:
        return {
            "identified": self.identified,
            "method": self.method,
            "cross_links": self.cross_links,
            "draws": self.draws,
            "seed": self.seed,
            "disagreements": self.disagreements,
            "block_only": self.block_only,
            "modalities": {k: v.to_dict() for k, v in self.modalities.items()},
            "limits": self.limits,
        }

    def format(self) -> str:
        """Plain text for a terminal or a report page."""
        failing = [m for m in self.modalities.values() if not m.identified]
        how = "exact enumeration" if self.method == "exact" else "randomised search"
        verdict = (
            "every modality's latents are identified one by one"
            if not failing
            else f"{len(failing)} of {len(self.modalities)} modalities are identified only as a block"
        )
        agree = "agree" if not self.disagreements else f"disagree on {self.disagreements} remixes"
        lines = [
            f"Component-wise identifiability ({how}, {self.draws} random draws {agree}, "
            f"{self.cross_links} cross-modal links): {verdict}."
        ]
        for m in self.modalities.values():
            size = f"{len(m.latents)} latent{'s' if len(m.latents) != 1 else ''}"
            if m.identified:
                lines.append(f"  {m.name} ({size}): identified one by one.")
                continue
            lines.append(f"  {m.name} ({size}): only the block is identified.")
            if m.witness:
                lines.append(f"      {m.witness.text}")
            if m.pinned:
                lines.append(f"      Still pinned down one by one: {', '.join(m.pinned)}.")
            lines.append(f"      Only block-identified: {', '.join(m.block_only)}.")
        lines.append("Limits:")
        lines.extend(f"  - {limit}" for limit in self.limits)
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the check


def _closure(support: np.ndarray) -> np.ndarray:
    """Reflexive-transitive closure of (batch, k, k) boolean supports: the generic support of T⁻¹."""
    k = support.shape[-1]
    reach = support | np.eye(k, dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(max(k, 2)))))):
        reach = reach | (np.einsum("bij,bjl->bil", reach.astype(np.int64), reach.astype(np.int64)) > 0)
    return reach


def _supports(k: int, exact: bool, rng: np.random.Generator) -> np.ndarray:
    """(n, k, k) boolean supports with a full diagonal and at least one off-diagonal entry, sparsest first."""
    off = [(i, j) for i in range(k) for j in range(k) if i != j]
    patterns: list[tuple[tuple[int, int], ...]] = []
    if exact:
        for size in range(1, len(off) + 1):
            patterns.extend(itertools.combinations(off, size))
    else:
        patterns.extend((p,) for p in off)
        seen = set(patterns)
        for _ in range(RANDOM_SUPPORTS):
            size = int(rng.integers(2, min(len(off), 2 * k) + 1))
            pick = tuple(sorted(off[i] for i in rng.choice(len(off), size=size, replace=False)))
            if pick not in seen:
                seen.add(pick)
                patterns.append(pick)
    out = np.zeros((len(patterns), k, k), dtype=bool)
    out[:, np.arange(k), np.arange(k)] = True
    for n, pattern in enumerate(patterns):
        for i, j in pattern:
            out[n, i, j] = True
    return out


def _generic(
    support: np.ndarray, rng: np.random.Generator, low: float = 0.5, high: float = 1.5
) -> np.ndarray:
    values = rng.uniform(low, high, size=support.shape) * rng.choice([-1.0, 1.0], size=support.shape)
    return np.where(support, values, 0.0)


def _count(x: np.ndarray) -> np.ndarray:
    """Nonzeros per batch item, with a tolerance relative to the item's largest entry."""
    scale = np.abs(x).reshape(len(x), -1).max(axis=1, initial=0.0)
    tol = _RELATIVE_TOLERANCE * np.maximum(scale, 1.0)
    return (np.abs(x) > tol[:, None, None]).sum(axis=(1, 2))


def _keeps_count(
    supports: np.ndarray, into: np.ndarray, out_of: np.ndarray, rng: np.random.Generator, draws: int
) -> tuple[np.ndarray, int]:
    """For each support of T_m, whether T_m G[m, others] and G[others, m] T_m⁻¹ keep their nonzero count.

    into: (k, n_other) support of G's rows in m (links into m); out_of: (n_other, k) links out of m.
    Returns (n_supports,) booleans and the number of supports where numeric draws and the boolean count
    disagreed (decided by the boolean count, which is exact for generic values).
    """
    k = supports.shape[-1]
    baseline = int(into.sum() + out_of.sum())
    inverse_support = _closure(supports)
    boolean = (np.einsum("bij,jl->bil", supports.astype(np.int64), into.astype(np.int64)) > 0).sum(
        axis=(1, 2)
    )
    boolean = boolean + (
        np.einsum("ij,bjl->bil", out_of.astype(np.int64), inverse_support.astype(np.int64)) > 0
    ).sum(axis=(1, 2))
    structural = boolean == baseline

    numeric = np.empty((draws, len(supports)), dtype=bool)
    for d in range(draws):
        t = _generic(supports, rng)
        # Diagonal dominance keeps every T well conditioned, so true zeros of T⁻¹ stay far below the tolerance.
        t[:, np.arange(k), np.arange(k)] = rng.uniform(k, k + 1, size=(len(supports), k)) * rng.choice(
            [-1.0, 1.0], size=(len(supports), k)
        )
        g_into, g_out = _generic(into, rng), _generic(out_of, rng)
        counts = _count(t @ g_into) + _count(g_out @ np.linalg.inv(t))
        numeric[d] = counts == baseline
    disagree = (numeric != structural).any(axis=0)
    return structural, int(disagree.sum())


def _check_block(
    adjacency: np.ndarray,
    idx: list[int],
    names: list[str],
    max_exact: int,
    draws: int,
    rng: np.random.Generator,
) -> tuple[ModalityResult, int]:
    k = len(idx)
    others = np.setdiff1d(np.arange(len(adjacency)), idx)
    g = adjacency.T  # G[target, source]
    into, out_of = g[np.ix_(idx, others)], g[np.ix_(others, idx)]
    cross = int(into.sum() + out_of.sum())
    latents = [names[i] for i in idx]
    exact = k <= max_exact
    method = "exact" if exact else "randomised"
    if k == 1:
        result = ModalityResult("", latents, True, method, 0, [], latents, [], None, cross)
        return result, 0
    supports = _supports(k, exact, rng)
    keeps, disagreed = _keeps_count(supports, into, out_of, rng, draws)

    mixable = []
    for s in np.nonzero(keeps)[0]:
        off = np.argwhere(supports[s] & ~np.eye(k, dtype=bool))
        if len(off) == 1:
            mixable.append((latents[off[0][0]], latents[off[0][1]]))
    block_only = [name for name in latents if any(name == a for a, _ in mixable)]
    pinned = [name for name in latents if name not in block_only]
    witness = None
    if keeps.any():
        # Supports are listed sparsest first, so this is the simplest remix.
        s = int(np.nonzero(keeps)[0][0])
        pairs = [(latents[i], latents[j]) for i, j in np.argwhere(supports[s] & ~np.eye(k, dtype=bool))]
        witness = Witness(supports[s].astype(int).tolist(), pairs, cross, _witness_text(pairs, cross))
    result = ModalityResult(
        "", latents, not keeps.any(), method, len(supports), mixable, pinned, block_only, witness, cross
    )
    return result, disagreed


def _witness_text(pairs: list[tuple[str, str]], cross: int) -> str:
    involved = list(dict.fromkeys(name for pair in pairs for name in pair))
    together = involved[0] if len(involved) == 1 else ", ".join(involved[:-1]) + " and " + involved[-1]
    remix = "; ".join(f"{a} + c·{b} in place of {a}" for a, b in pairs)
    links = f"{cross} cross-modal link{'s' if cross != 1 else ''}"
    text = f"{together} can be mixed without adding a cross-modal link ({remix} keeps the {links})."
    if len(pairs) == 1 and cross:
        a, b = pairs[0]
        text += f" {b} has no cross-modal parent that {a} lacks, and {a} no cross-modal child that {b} lacks."
    if cross == 0:
        text += " This modality has no cross-modal link at all, so even its block is not pinned down."
    return text


def check_identifiability(
    adjacency: np.ndarray,
    blocks: Mapping[str, Sequence[int]],
    names: Sequence[str] | None = None,
    *,
    seed: int = 0,
    draws: int = DRAWS,
    max_exact: int = MAX_EXACT,
) -> IdentifiabilityReport:
    """Check, per modality, that any within-modality remix of its latents adds a cross-modal link.

    adjacency: (n, n) binary, A[i, j] != 0 meaning i -> j; the diagonal is ignored. blocks: modality name ->
    indices of its latents (every latent in exactly one block). names: display name per latent (default
    "<modality>.z<k>"). Blocks of up to `max_exact` latents are enumerated exactly; larger ones searched at
    random (see the module docstring). The answer does not depend on `seed`; only the random values do.
    """
    adj = np.asarray(adjacency)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise CrlError(f"the latent adjacency must be a square (n, n) matrix, got shape {adj.shape}")
    n = adj.shape[0]
    adj = adj != 0
    np.fill_diagonal(adj, False)
    owner = np.full(n, -1)
    for b, (block, idx) in enumerate(blocks.items()):
        for i in idx:
            if not 0 <= i < n:
                raise CrlError(f"modality '{block}' lists latent {i}, but the graph has latents 0..{n - 1}")
            if owner[i] >= 0:
                raise CrlError(
                    f"latent {i} is listed in two modalities; give each latent exactly one modality"
                )
            owner[i] = b
    if (owner < 0).any():
        missing = np.nonzero(owner < 0)[0].tolist()
        raise CrlError(f"latents {missing} belong to no modality; add them to a block")
    if names is None:
        names = [""] * n
        for block, idx in blocks.items():
            for k, i in enumerate(idx):
                names[i] = f"{block}.z{k}"
    names = list(names)
    if len(names) != n:
        raise CrlError(f"got {len(names)} latent names for {n} latents; give one name per latent")

    rng = np.random.default_rng(seed)
    results: dict[str, ModalityResult] = {}
    disagreed = 0
    for block, idx in blocks.items():
        result, bad = _check_block(adj, list(idx), names, max_exact, draws, rng)
        result.name = block
        results[block] = result
        disagreed += bad
    cross_links = int((adj & (owner[:, None] != owner[None, :])).sum())
    method = "exact" if all(r.method == "exact" for r in results.values()) else "randomised"
    limits = _limits(results, max_exact, draws, disagreed)
    return IdentifiabilityReport(results, cross_links, method, draws, seed, limits, disagreed)


def _limits(results: dict[str, ModalityResult], max_exact: int, draws: int, disagreed: int) -> list[str]:
    limits = [
        "A structural check of the graph's support: mechanisms are assumed generic (no exact cancellations), "
        "and a graph read from a trained model inherits its threshold's mistakes.",
        "Only cross-modal links count, as in the estimator's sparsity penalty; within-modality links never "
        "decide the answer.",
        "It says what the data can pin down given each modality's block is identified (which needs every "
        "modality to influence the others), not what a trained model recovered.",
    ]
    large = [r for r in results.values() if r.method == "randomised"]
    if large:
        listed = ", ".join(f"{r.name} ({len(r.latents)})" for r in large)
        limits.append(
            f"Modalities with more than {max_exact} latents [{listed}] were searched, not enumerated: every "
            f"single-entry remix (sufficient when mechanisms are generic, see crl.graphs.identifiability) plus "
            f"up to {RANDOM_SUPPORTS} random sparse remixes, instead of all 2^(k(k-1)) supports."
        )
    if disagreed:
        limits.append(
            f"On {disagreed} remix supports the {draws} random draws disagreed with the exact boolean count "
            "(near-cancelling random values); the boolean count decided."
        )
    return limits
