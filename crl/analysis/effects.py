"""Effect size of each learned link: what one standard deviation more of the cause does to the effect.

A link's gate strength saturates near 1 once the graph has decided on it, so it says *whether* a link is kept,
not how much it matters. The effect is read from the learned flows instead: for each subject, the effect
latent is solved from its own noise (abduction) with the cause raised by one of its standard deviations and
every other parent held where it was; the mean change, in the effect's standard deviations, is the link's
direct effect. Signed: negative when more of the cause means less of the effect.
"""

from __future__ import annotations

import numpy as np
import torch

from crl.analysis.traversal import thresholded_adjacency

MAX_SUBJECTS = 2000  # enough for a mean to two decimals; the cost grows with subjects x candidate links


def link_effects(model, z: np.ndarray, threshold: float = 0.5, seed: int = 0) -> np.ndarray:
    """`(n_latent, n_latent)` signed direct effects, `[source, target]`, for every candidate link.

    z: the subjects' latents `(subjects, n_latent)` in model order (posterior means). The other parents of the
    effect are the links kept at `threshold`; the link measured is switched on whatever its own strength, so
    weak links get an effect too (near 0 when the flows learnt none). A model without a causal prior (a
    baseline) has no links: all zeros.
    """
    n = model.n_latent
    effects = np.zeros((n, n))
    if model.prior is None:
        return effects
    z = np.asarray(z, dtype=np.float32)
    if len(z) > MAX_SUBJECTS:
        z = z[np.random.default_rng(seed).choice(len(z), MAX_SUBJECTS, replace=False)]
    spread = z.std(axis=0)
    kept = thresholded_adjacency(model, threshold)
    device = next(model.parameters()).device
    base = torch.from_numpy(z).to(device)
    with torch.no_grad():
        for target in range(n):
            if spread[target] == 0:
                continue
            for source in range(n):
                if source == target or spread[source] == 0:
                    continue
                adjacency = kept.copy()
                adjacency[source, target] = 1
                gates = torch.as_tensor(adjacency, dtype=torch.float32, device=device)
                eps, _ = model.prior(base, gates)
                raised = base.clone()
                raised[:, source] += float(spread[source])
                moved = model.prior.solve(raised, eps, gates)[:, target]
                change = (moved - base[:, target]).mean().item()
                effects[source, target] = change / float(spread[target])
    return effects
