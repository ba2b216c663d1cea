"""The PCA + MLP image family (crl.core.nn.pca): its basis is the data's principal components, fitted once on
the training split before the first step, saved with the weights and kept by a resumed run."""

from __future__ import annotations

import numpy as np
import torch
from basis_training import train_image_family
from cohort_factory import IMAGE

from crl.core.model import build_model
from crl.core.nn.pca import PCABasis
from crl.engine.fit import fit

torch.set_num_threads(1)


def _data(n: int = 200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    factors = torch.randn(n, 4, generator=g) * torch.tensor([5.0, 3.0, 2.0, 1.0])
    loadings = torch.randn(4, 3 * 6 * 6, generator=g)
    return (factors @ loadings + 0.1 * torch.randn(n, 108, generator=g)).reshape(n, 3, 6, 6)


def test_the_basis_is_the_principal_subspace_and_whitens():
    x = _data()
    basis = PCABasis((3, 6, 6), components=4)
    basis.fit(x)
    directions = basis.directions.double()
    np.testing.assert_allclose(directions @ directions.T, np.eye(4), atol=1e-5)
    coefficients = basis.coefficients(x)
    np.testing.assert_allclose(coefficients.std(0).numpy(), np.ones(4), rtol=1e-3)
    flat = x.flatten(1).double().numpy()
    centred = flat - flat.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    best = (centred @ vt[:4].T) @ vt[:4]  # the optimal rank-4 reconstruction
    ours = basis.observation(coefficients, (3, 6, 6)).flatten(1).double().numpy() - flat.mean(0)
    np.testing.assert_allclose(ours, best, atol=1e-3)


def test_the_same_data_gives_the_same_basis_whatever_the_row_order():
    x = _data()
    a, b = PCABasis((3, 6, 6), 4), PCABasis((3, 6, 6), 4)
    a.fit(x)
    b.fit(x[torch.randperm(len(x), generator=torch.Generator().manual_seed(1))])
    np.testing.assert_allclose(a.directions, b.directions, atol=1e-5)


def test_fewer_subjects_than_components_leaves_the_rest_empty():
    basis = PCABasis((3, 6, 6), components=20)
    basis.fit(_data(n=8))
    assert (basis.directions[8:] == 0).all() and bool(basis.fitted)
    assert torch.isfinite(basis.coefficients(_data(n=3, seed=2))).all()


def test_training_fits_the_basis_and_a_resumed_run_keeps_it(tmp_path):
    cohort, config, model, state = train_image_family(tmp_path, "pca")
    encoder_basis = model.encoders[IMAGE].basis
    assert bool(encoder_basis.fitted) and encoder_basis.directions.abs().sum() > 0
    np.testing.assert_array_equal(encoder_basis.directions, model.decoders[IMAGE].basis.directions)
    saved = state["model"]
    saved[f"encoders.{IMAGE}.basis.mean"] += 1.0  # a mark: a basis fitted afresh would not carry it
    resumed = build_model(config, cohort.schema())
    fit(resumed, cohort, config, resume=state)
    np.testing.assert_array_equal(resumed.encoders[IMAGE].basis.mean, saved[f"encoders.{IMAGE}.basis.mean"])
