"""Latent traversals and interventions: decode every modality as one latent moves, alone or through the graph.

A traversal sets one latent to each of a range of values, holds every other latent and eta fixed, and decodes.
An intervention do(z_i = v) follows the learned graph (thresholded into a DAG) with each subject's noise held
fixed, in three steps (Pearl's counterfactual): abduction, eps = prior.forward(z) under the hard gates;
action, z_i = v; prediction, the descendants of i are solved from their unchanged eps in a topological order,
while every non-descendant keeps its value exactly. eta is exogenous to the graph, so it never changes.
Arrays in and out are numpy; decoded observations are in the cohort's layout and original units (images 0-255).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch

from crl.data.cohort import Cohort, Normaliser
from crl.errors import CrlError
from crl.graphs import dag


class Intervention(NamedTuple):
    """What do(latent = value) did; unpacks as `before, after, changed`.

    before / after: modality -> decoded observation, `(*obs_shape)` for one subject or `(batch, *obs_shape)`.
    changed: latent name -> (value before, value after) for the intervened latent (first) and each of its
        descendants, floats for one subject or `(batch,)` arrays.
    """

    before: dict[str, np.ndarray]
    after: dict[str, np.ndarray]
    changed: dict[str, tuple[np.ndarray | float, np.ndarray | float]]


# ------------------------------------------------------------------------------------------------- helpers


def latent_index(model, latent: int | str) -> int:
    """The model-order index of a latent given by index or by name (`<modality>.z<k>`)."""
    names = list(model.latent_names)
    if isinstance(latent, str):
        if latent not in names:
            raise CrlError(f"latent '{latent}' is not in this model; it has {', '.join(names)}")
        return names.index(latent)
    index = int(latent)
    if not 0 <= index < len(names):
        raise CrlError(f"latent index {index} is out of range; this model has {len(names)} latents")
    return index


def _rows(x: np.ndarray | Sequence[float], width: int, what: str) -> tuple[np.ndarray, bool]:
    """`(batch, width)` float32 and whether the input was a single row."""
    a = np.asarray(x, dtype=np.float32)
    single = a.ndim == 1
    a = a.reshape(1, -1) if single else a
    if a.ndim != 2 or a.shape[1] != width:
        raise CrlError(f"{what} must have {width} values per subject, got shape {np.shape(x)}")
    return a, single


def _device(model) -> torch.device:
    return next(model.parameters()).device


# ------------------------------------------------------------------------------------------------- encoding


def cohort_posterior(
    model, cohort: Cohort, normaliser: Normaliser, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means of every subject: z `(n_subjects, n_latent)` and eta `(n_subjects, n_eta)`, float32."""
    from crl.engine.encode import posterior_means
    from crl.runs.checkpoint import check_compatible

    check_compatible(model.schema, cohort)
    return posterior_means(model, cohort, normaliser, batch_size, _device(model))


def mean_subject(z: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The average subject: the cohort mean of z `(n_latent,)` and of eta `(n_eta,)`."""
    z, eta = np.asarray(z, dtype=np.float32), np.asarray(eta, dtype=np.float32)
    if len(z) == 0:
        raise CrlError("the cohort has no subjects to average; load a cohort with at least one subject")
    return z.mean(axis=0), eta.mean(axis=0)


def decode(model, normaliser: Normaliser, z: np.ndarray, eta: np.ndarray) -> dict[str, np.ndarray]:
    """modality -> `(batch, *obs_shape)` in cohort layout and original units from z `(batch, n_latent)`.

    One batched decoder call per modality; images come back as 0-255 floats, clipped to that range.
    """
    z, _ = _rows(z, model.n_latent, "z")
    eta, _ = _rows(eta, model.n_eta, "eta")
    if len(z) != len(eta):
        raise CrlError(f"z has {len(z)} subjects but eta has {len(eta)}")
    device = _device(model)
    with torch.no_grad():
        out = model.decode(torch.from_numpy(z).to(device), torch.from_numpy(eta).to(device))
    decoded = {}
    for name, tensor in out.items():
        kind = model.schema[name]["kind"]
        x = tensor.float().cpu().numpy()
        if kind == "image":
            shape = model.schema[name]["shape"]
            # model layout (B, C, H, W) -> the cohort's (B, H, W) or (B, H, W, C)
            x = x[:, 0] if len(shape) == 2 else np.transpose(x, (0, 2, 3, 1))
        x = normaliser.invert(name, x)
        if kind == "image":
            x = np.clip(x, 0.0, 255.0)
        decoded[name] = np.ascontiguousarray(x, dtype=np.float32)
    return decoded


# ------------------------------------------------------------------------------------------------- graph


def thresholded_adjacency(model, threshold: float) -> np.ndarray:
    """`(n_latent, n_latent)` 0/1 int: edges i -> j whose learned strength reaches `threshold` (no diagonal)."""
    strengths = np.asarray(model.strengths(), dtype=float)
    keep = strengths >= float(threshold)
    np.fill_diagonal(keep, False)
    return keep.astype(int)


def topological_order(adjacency: np.ndarray, names: Sequence[str] | None = None) -> list[int]:
    """Latent indices with every parent before its children (`adjacency[i, j]` = edge i -> j).

    Raises CrlError naming the latents left on a cycle, with what to do about it.
    """
    try:
        return dag.topological_order(adjacency)
    except dag.CycleError as cycle:
        label = [str(names[k]) if names is not None else str(k) for k in cycle.stuck]
        raise CrlError(
            f"the links at this threshold form a cycle among {', '.join(label)}, so there is no causal order "
            "to propagate an intervention along; raise the threshold until the cycle breaks"
        ) from None


def acyclic_threshold(strengths: np.ndarray, threshold: float, step: float = 0.01) -> float | None:
    """The lowest threshold at or above `threshold`, on a grid of `step`, whose kept links form no cycle.

    What to suggest when an intervention cannot be propagated; None when no threshold up to 1 breaks every
    cycle (links of strength 1, e.g. required ones, close one).
    """
    a = np.asarray(strengths, dtype=float)
    off = a[~np.eye(len(a), dtype=bool)]
    candidates = {float(threshold)} | {
        float(np.ceil((s + 1e-9) / step) * step) for s in off if s >= threshold
    }
    for t in sorted(c for c in candidates if c <= 1.0):  # strengths are probabilities
        keep = (a >= t).astype(int)
        np.fill_diagonal(keep, 0)
        try:
            topological_order(keep)
        except CrlError:
            continue
        return round(t, 10)
    return None


def descendants(adjacency: np.ndarray, latent: int) -> list[int]:
    """Indices reachable from `latent` along edges (not the latent itself), ascending."""
    a = np.asarray(adjacency) != 0
    seen: set[int] = set()
    frontier = [int(latent)]
    while frontier:
        for j in np.flatnonzero(a[frontier.pop()]):
            if int(j) not in seen and int(j) != int(latent):
                seen.add(int(j))
                frontier.append(int(j))
    return sorted(seen)


def _gates(model, adjacency: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(adjacency), dtype=torch.float32, device=_device(model))


def abduct(model, z: np.ndarray, adjacency: np.ndarray) -> np.ndarray:
    """Each subject's noise eps `(batch, n_latent)` from its latents `(batch, n_latent)` under hard gates."""
    z, single = _rows(z, model.n_latent, "z")
    if model.prior is None:  # a beta-VAE has no causal prior: its latents are their own noise
        return z[0] if single else z
    with torch.no_grad():
        eps, _ = model.prior(torch.from_numpy(z).to(_device(model)), _gates(model, adjacency))
    eps = eps.cpu().numpy()
    return eps[0] if single else eps


def predict(
    model,
    eps: np.ndarray,
    adjacency: np.ndarray,
    order: Sequence[int] | None = None,
    fixed: Mapping[int, np.ndarray | float] | None = None,
) -> np.ndarray:
    """Latents `(batch, n_latent)` from noises `(batch, n_latent)`, solved one latent at a time in causal order.

    fixed: latent index -> value (scalar or `(batch,)`) set directly instead of solved (the intervened latent,
    and non-descendants that must stay exactly as they were). Without it this inverts `abduct`.
    """
    eps, single = _rows(eps, model.n_latent, "eps")
    order = list(order) if order is not None else topological_order(adjacency, model.latent_names)
    fixed = dict(fixed or {})
    device = _device(model)
    e = torch.from_numpy(eps).to(device)
    z = torch.zeros_like(e)
    gates = _gates(model, adjacency)
    with torch.no_grad():
        for i in order:
            if i in fixed:
                z[:, i] = torch.tensor(np.asarray(fixed[i], dtype=np.float32), device=device)
            elif model.prior is None:
                z[:, i] = e[:, i]
            else:
                # Parents come earlier in `order`, so they are final when latent i is solved.
                z[:, i] = model.prior.solve(z, e, gates)[:, i]
    out = z.cpu().numpy()
    return out[0] if single else out


def counterfactual_latents(
    model, z: np.ndarray, latent: int | str, values: np.ndarray | Sequence[float] | float, threshold: float
) -> tuple[np.ndarray, list[int]]:
    """Latents after do(z_latent = value) for each row, and the descendants that were re-solved.

    z: `(batch, n_latent)` (or `(n_latent,)`, repeated for every value); values: scalar or `(batch,)`.
    Returns `(batch, n_latent)` and the descendant indices (ascending).
    """
    i = latent_index(model, latent)
    values = np.atleast_1d(np.asarray(values, dtype=np.float32))
    z, _ = _rows(z, model.n_latent, "z")
    if len(z) == 1 and len(values) > 1:
        z = np.repeat(z, len(values), axis=0)
    if len(values) not in (1, len(z)):
        raise CrlError(
            f"{len(values)} intervention values for {len(z)} subjects; give one or one per subject"
        )
    values = np.broadcast_to(values, (len(z),))
    adjacency = thresholded_adjacency(model, threshold)
    order = topological_order(adjacency, model.latent_names)
    below = set(descendants(adjacency, i))
    eps = abduct(model, z, adjacency)
    fixed: dict[int, np.ndarray | float] = {j: z[:, j] for j in range(model.n_latent) if j not in below}
    fixed[i] = values
    return predict(model, eps, adjacency, order, fixed), sorted(below)


# ------------------------------------------------------------------------------------------------- public


def traversal_values(z: np.ndarray, latent: int, spread: float = 2.0, steps: int = 7) -> np.ndarray:
    """`(steps,)` evenly spaced values of a latent: the cohort mean +- `spread` standard deviations."""
    column = np.asarray(z, dtype=float)[:, latent]
    centre = float(column.mean()) if len(column) else 0.0
    sd = float(column.std()) if len(column) > 1 else 0.0
    sd = sd if sd > 1e-8 else 1.0
    return np.linspace(centre - spread * sd, centre + spread * sd, max(int(steps), 1))


def traverse(
    model,
    normaliser: Normaliser,
    base_z: np.ndarray,
    base_eta: np.ndarray,
    latent: int | str,
    values: np.ndarray | Sequence[float],
    *,
    threshold: float | None = None,
) -> dict[str, np.ndarray]:
    """modality -> `(n_steps, *obs_shape)`: the subject `base_z` `(n_latent,)`, `base_eta` `(n_eta,)` decoded
    with the latent set to each value, in original units (images 0-255), one batched decode.

    threshold None moves only this latent; a threshold makes each step do(latent = value) through the graph
    at that threshold, so its descendants follow (the subject's noise held fixed).
    """
    i = latent_index(model, latent)
    values = np.asarray(values, dtype=np.float32).ravel()
    z, _ = _rows(base_z, model.n_latent, "base_z")
    eta, _ = _rows(base_eta, model.n_eta, "base_eta")
    if len(z) != 1 or len(eta) != 1:
        raise CrlError("a traversal starts from one subject: pass base_z (n_latent,) and base_eta (n_eta,)")
    if threshold is None:
        steps = np.repeat(z, len(values), axis=0)
        steps[:, i] = values
    else:
        steps, _ = counterfactual_latents(model, z[0], i, values, threshold)
    return decode(model, normaliser, steps, np.repeat(eta, len(values), axis=0))


def intervene(
    model,
    normaliser: Normaliser,
    z: np.ndarray,
    eta: np.ndarray,
    latent: int | str,
    value: float,
    threshold: float,
    before: Mapping[str, np.ndarray] | None = None,
) -> Intervention:
    """do(latent = value) for one subject (`(n_latent,)`, `(n_eta,)`) or a batch (`(batch, ...)`).

    Before and after are decoded in one call; non-descendants of the latent (at `threshold`) keep their
    exact values, so a modality none of whose latents is the latent or a descendant decodes identically.
    before: the subject's decoded observation (`decode(model, normaliser, z, eta)`, shaped like the result)
    when already known, e.g. cached while a slider moves; then only the counterfactual is decoded.
    """
    i = latent_index(model, latent)
    zs, single = _rows(z, model.n_latent, "z")
    etas, _ = _rows(eta, model.n_eta, "eta")
    after_z, below = counterfactual_latents(model, zs, i, value, threshold)
    n = len(zs)
    if before is None:
        both = decode(model, normaliser, np.concatenate([zs, after_z]), np.concatenate([etas, etas]))
        before = {m: (x[0] if single else x[:n]) for m, x in both.items()}
        after = {m: (x[n] if single else x[n:]) for m, x in both.items()}
    else:
        decoded = decode(model, normaliser, after_z, etas)
        before = dict(before)
        after = {m: (x[0] if single else x) for m, x in decoded.items()}
    names = list(model.latent_names)
    changed = {
        names[j]: (float(zs[0, j]), float(after_z[0, j])) if single else (zs[:, j], after_z[:, j])
        for j in [i, *below]
    }
    return Intervention(before, after, changed)


def largest_change(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], normaliser: Normaliser
) -> dict[str, float]:
    """modality -> the largest |a - b| over every value, in units of the modality's normalising scale.

    a and b broadcast against each other: for a traversal pass `decoded` and `{m: x[:1]}` (change from the
    first step); for an intervention pass after and before. A modality the latent cannot reach gives 0.
    """
    out = {}
    for name in a:
        if name not in b:
            continue
        scale = np.abs(np.asarray(normaliser.scale[name], dtype=float))
        diff = np.abs(np.asarray(a[name], dtype=float) - np.asarray(b[name], dtype=float))
        # scale is shaped for one observation (cohort layout), so it broadcasts over leading batch axes
        out[name] = float(np.max(diff / np.where(scale > 0, scale, 1.0))) if diff.size else 0.0
    return out
