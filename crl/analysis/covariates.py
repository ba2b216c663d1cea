"""Links between observed clinical covariates and learned latents, found by the PC algorithm (docs/method.md §3).

As in the paper's real-data study (§6.3), after training the PC algorithm (Fisher-z tests, α = 0.1 by default)
runs on the learned latents together with the observed clinical variables (age, grip strength, …), placing
both in one graph. The model's own latent-to-latent edges stay the model's; from PC the dashboard takes the
links that touch a covariate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crl.errors import CrlError

DEFAULT_ALPHA = 0.1
MIN_SUBJECTS = 20


@dataclass
class CovariateLinks:
    """PC's answer on latents + covariates.

    edges: one row per adjacency PC kept: `a`, `b`, `kind` ("covariate–latent", "covariate–covariate",
    "latent–latent"), `orientation` ("->" a causes b, "<-" b causes a, "--" undecided, "<->" conflicting),
    `strength` (|Pearson correlation| of the pair, a readable size for the link). Covariate–latent rows put
    the covariate in `a`.
    """

    edges: pd.DataFrame
    alpha: float
    subjects: int
    covariates: list[str]
    latents: list[str]
    dropped_subjects: int = 0
    dropped_columns: dict[str, str] = field(default_factory=dict)  # column -> why it was left out

    def latent_links(self) -> list[tuple[str, str, float]]:
        """(covariate, latent, strength) for every covariate–latent link: what the network draws."""
        rows = self.edges[self.edges["kind"] == "covariate–latent"]
        return [
            (str(a), str(b), float(s))
            for a, b, s in zip(rows["a"], rows["b"], rows["strength"], strict=False)
        ]


def _numeric_covariates(covariates: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    dropped: dict[str, str] = {}
    keep = {}
    for column in covariates.columns:
        values = pd.to_numeric(covariates[column], errors="coerce")
        if values.notna().sum() == 0:
            dropped[str(column)] = "not numeric"
        elif values.nunique(dropna=True) < 2:
            dropped[str(column)] = "the same value for everyone"
        else:
            keep[str(column)] = values.astype(float)
    return pd.DataFrame(keep, index=covariates.index), dropped


def link_covariates(
    latents: pd.DataFrame,
    covariates: pd.DataFrame,
    alpha: float = DEFAULT_ALPHA,
    *,
    max_subjects: int | None = 5000,
    seed: int = 0,
) -> CovariateLinks:
    """Runs PC (Fisher-z, significance `alpha`) on latents `(n, d)` and covariates `(n, c)` joined by subject.

    Both tables are indexed by subject ID. Non-numeric or constant covariates are left out (and listed);
    subjects missing any value are left out (and counted). Beyond `max_subjects` a seeded random subset is
    used: Fisher-z tests on thousands of subjects already reject tiny dependencies, and PC's time grows with n.
    """
    if not 0 < alpha < 1:
        raise CrlError(f"the significance level α must lie between 0 and 1, got {alpha}")
    if covariates is None or covariates.shape[1] == 0:
        raise CrlError("this cohort has no clinical covariates; add a [covariates] table to its cohort.toml")
    cov, dropped = _numeric_covariates(covariates)
    if cov.shape[1] == 0:
        raise CrlError(
            "none of the cohort's covariates is a usable number ("
            + "; ".join(f"{k}: {v}" for k, v in dropped.items())
            + "); add numeric clinical columns"
        )
    lat = latents.apply(pd.to_numeric, errors="coerce").astype(float)
    lat.index = lat.index.astype(str)
    cov.index = cov.index.astype(str)
    # Positional column keys: a covariate may share a name with a latent.
    joined = pd.concat(
        [
            lat.set_axis([f"L{i}" for i in range(lat.shape[1])], axis=1),
            cov.set_axis([f"C{i}" for i in range(cov.shape[1])], axis=1),
        ],
        axis=1,
        join="inner",
    )
    shared = len(joined)
    joined = joined.replace([np.inf, -np.inf], np.nan).dropna()
    dropped_subjects = shared - len(joined)
    if len(joined) < MIN_SUBJECTS:
        raise CrlError(
            f"only {len(joined)} subjects have both learned latents and complete covariates "
            f"(at least {MIN_SUBJECTS} are needed); check that the run was trained on this cohort"
        )
    if max_subjects is not None and len(joined) > max_subjects:
        pick = np.sort(np.random.default_rng(seed).choice(len(joined), max_subjects, replace=False))
        joined = joined.iloc[pick]
    d, c = lat.shape[1], cov.shape[1]
    names = [str(x) for x in lat.columns] + [str(x) for x in cov.columns]
    data = joined.to_numpy(float)
    spread = data.std(axis=0)
    if (spread == 0).any():
        flat = [names[i] for i in np.nonzero(spread == 0)[0]]
        raise CrlError(
            f"{', '.join(map(str, flat))} never change(s) across the subjects used; the PC tests need variation "
            "(a latent that never changes points to a collapsed model: retrain it)"
        )
    data = (data - data.mean(axis=0)) / spread
    corr = np.corrcoef(data, rowvar=False)

    try:  # lazy: causal-learn takes seconds to import, and it is an optional extra
        from causallearn.search.ConstraintBased.PC import pc
    except ImportError as error:
        raise CrlError(
            "linking clinical covariates to latents needs the causal-learn package, which this Python lacks: "
            'pip install "crl[covariates]" (or causal-learn)'
        ) from error

    result = pc(
        data,
        alpha=alpha,
        indep_test="fisherz",
        stable=True,
        show_progress=False,
        node_names=[f"X{i}" for i in range(d + c)],  # user names may contain characters PC rejects
    )
    graph = result.G.graph  # [j, i] == 1 and [i, j] == -1: i -> j; both -1: undirected; both 1: bidirected
    is_cov = [False] * d + [True] * c
    rows = []
    for i in range(d + c):
        for j in range(i + 1, d + c):
            if graph[i, j] == 0 and graph[j, i] == 0:
                continue
            if graph[j, i] == 1 and graph[i, j] == -1:
                arrow = "->"
            elif graph[i, j] == 1 and graph[j, i] == -1:
                arrow = "<-"
            elif graph[i, j] == 1 and graph[j, i] == 1:
                arrow = "<->"
            else:
                arrow = "--"
            a, b = i, j
            if is_cov[j] and not is_cov[i]:  # covariate first
                a, b = j, i
                arrow = {"->": "<-", "<-": "->"}.get(arrow, arrow)
            kind = {2: "covariate–covariate", 1: "covariate–latent", 0: "latent–latent"}[
                is_cov[a] + is_cov[b]
            ]
            rows.append((names[a], names[b], kind, arrow, abs(float(corr[i, j]))))
    edges = pd.DataFrame(rows, columns=["a", "b", "kind", "orientation", "strength"])
    edges = edges.sort_values(["kind", "strength"], ascending=[True, False], ignore_index=True)
    return CovariateLinks(
        edges=edges,
        alpha=float(alpha),
        subjects=len(joined),
        covariates=[str(x) for x in cov.columns],
        latents=[str(x) for x in lat.columns],
        dropped_subjects=dropped_subjects,
        dropped_columns=dropped,
    )
