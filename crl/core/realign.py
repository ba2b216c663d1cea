"""Block realignment: turn each modality's [z, eta] so that z spans what the other modalities predict of it.

Block identifiability (docs/method.md §2) says z^(m) is the part of modality m that leaves footprints in the
other modalities, and eta^(m) the part that does not. The likelihood's pull towards that split is second order
once a run has put a true latent into eta (bench/results/FINDINGS.md, "block failures": paper case 1 seed 1
ends at MCC 0.53 with one true latent in eta), so gradient steps do not undo it. This module asks the
question directly, the way canonical correlation analysis would: on held-out subjects, which k linear
combinations of a modality's [z, eta] do the other modalities' encodings predict best (a ridge regression on
random Fourier features of the others, so the relation may be nonlinear)? The modality's rotation is then
turned so that its z axes span those combinations, each as close to its current axis as the new subspace
allows: when the split is already right, the turn is no larger than the estimate's noise.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

# Random Fourier features of the other modalities' encodings, on top of the encodings themselves.
FEATURES = 256
# Ridge penalty per subject on standardised features.
RIDGE = 0.01


def _features(others: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standardised encodings and random Fourier features of them (a Gaussian kernel of width sqrt(dim))."""
    x = (others - others.mean(0)) / others.std(0).clamp_min(1e-6)
    d = x.shape[1]
    w = torch.randn(d, FEATURES, generator=generator, dtype=x.dtype, device=x.device) / math.sqrt(d)
    b = torch.rand(FEATURES, generator=generator, dtype=x.dtype, device=x.device) * 2 * math.pi
    f = torch.cat([x, torch.cos(x @ w + b)], 1)
    return (f - f.mean(0)) / f.std(0).clamp_min(1e-6)


def _heldout_predictions(
    own: torch.Tensor, features: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Ridge predictions of `own` from `features`, each subject predicted by the fit on the other half."""
    n = own.shape[0]
    halves = torch.randperm(n, generator=generator, device=own.device).chunk(2)
    predictions = torch.zeros_like(own)
    eye = torch.eye(features.shape[1], dtype=own.dtype, device=own.device)
    for fit, held in (halves, halves[::-1]):
        f = features[fit]
        coef = torch.linalg.solve(f.T @ f + RIDGE * len(fit) * eye, f.T @ own[fit])
        predictions[held] = features[held] @ coef
    return predictions


def predictable_directions(
    own: torch.Tensor, others: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear combinations of `own` `(n, d)` ordered by the share of their variance that `others` `(n, D)`
    predicts on held-out subjects: (shares `(d,)`, descending; combinations `(d, d)`, one per column)."""
    own = own.double() - own.double().mean(0)
    predicted = _heldout_predictions(own, _features(others.double(), generator), generator)
    n = own.shape[0]
    cov = own.T @ own / n + 1e-6 * torch.eye(own.shape[1], dtype=own.dtype, device=own.device)
    cross = own.T @ predicted / n
    cross = (cross + cross.T) / 2  # held-out explained covariance: noise fits average to zero
    inv = torch.linalg.inv(torch.linalg.cholesky(cov))
    shares, vectors = torch.linalg.eigh(inv @ cross @ inv.T)  # cross v = share * cov v
    return shares.flip(0), (inv.T @ vectors).flip(1)


def _closest_basis(subspace: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """The orthonormal basis of span(`subspace`) closest to the unit `axes` (orthogonal Procrustes)."""
    q, _ = torch.linalg.qr(subspace)
    u, _, vt = torch.linalg.svd(q.T @ axes)
    return q @ u @ vt


def aligned_turn(combos: torch.Tensor, k: int) -> torch.Tensor:
    """An orthogonal `(d, d)` matrix whose first k columns span the first k `combos`, the rest their orthogonal
    complement, each block as close to the identity's columns as it can be, and with determinant +1."""
    d = combos.shape[0]
    eye = torch.eye(d, dtype=combos.dtype, device=combos.device)
    q_full, _ = torch.linalg.qr(combos)
    turn = torch.cat(
        [_closest_basis(q_full[:, :k], eye[:, :k]), _closest_basis(q_full[:, k:], eye[:, k:])], 1
    )
    if torch.linalg.det(turn) < 0:
        turn[:, -1] = -turn[:, -1]  # flip one eta axis: eta's signs carry no meaning
    return turn


def skew_log(rotation: torch.Tensor) -> torch.Tensor:
    """A skew-symmetric S with exp(S) = `rotation` (a rotation matrix), via scipy's matrix logarithm."""
    log = np.real(scipy.linalg.logm(rotation.detach().double().cpu().numpy()))
    return torch.from_numpy((log - log.T) / 2)


@torch.no_grad()
def realign_blocks(model, z: torch.Tensor, eta: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
    """Turn each modality's rotation so its z axes span the k combinations of its [z, eta] (posterior means of
    the same subjects, `z` `(n, n_latent)`, `eta` `(n, n_eta)`) best predicted by the other modalities.
    Returns, per modality turned, the angle (radians) between its old and new z subspaces."""
    names = [n for n in model.names if n in model.rotations and model.eta_sizes[n] > 0]
    if len(model.names) < 2:
        return {}
    z_parts = dict(
        zip(model.names, torch.split(z, [model.latent_sizes[n] for n in model.names], 1), strict=True)
    )
    e_parts = dict(
        zip(model.names, torch.split(eta, [model.eta_sizes[n] for n in model.names], 1), strict=True)
    )
    blocks = {n: torch.cat([z_parts[n], e_parts[n]], 1).double() for n in model.names}
    moved = {}
    for name in names:
        k = model.latent_sizes[name]
        others = torch.cat([blocks[o] for o in model.names if o != name], 1)
        _, combos = predictable_directions(blocks[name], others, generator)
        turn = aligned_turn(combos, k)
        parameter = model.rotations[name]
        new = turn.T @ model.rotation(name).detach().double().cpu()
        log = skew_log(new)
        if not torch.allclose(torch.linalg.matrix_exp(log), new, atol=1e-6):
            continue  # a turn by pi has no reliable real logarithm: keep this modality as it is
        parameter.copy_((log / 2).to(parameter))
        # The principal angle between the old and the new z subspaces.
        cosines = torch.linalg.svdvals(turn[:k, :k]).clamp(max=1.0)
        moved[name] = float(torch.arccos(cosines.min()))
    return moved
