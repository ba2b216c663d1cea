"""A finished run keeps every subject's posterior means (latents.csv, eta.csv), so Traversal need not encode."""

from __future__ import annotations

import numpy as np

from crl.analysis.traversal import cohort_posterior
from crl.data.load import load_cohort
from crl.runs.checkpoint import load_run
from crl.ui import model_cache


def test_the_stored_means_are_what_encoding_gives_and_other_cohorts_are_encoded(trained, tmp_path):
    import shutil

    cohort, run = trained
    assert (run / "eta.csv").is_file()
    net, _, normaliser = load_run(run)
    stored = model_cache._stored(run, net, cohort)
    assert stored is not None
    z, eta = cohort_posterior(net, load_cohort(cohort), normaliser)
    np.testing.assert_allclose(stored.z, z, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stored.eta, eta, rtol=1e-4, atol=1e-5)
    copy = tmp_path / "copy"
    shutil.copytree(cohort, copy)
    assert model_cache._stored(run, net, copy) is None  # not the cohort it was trained on: encode it
    (run / "eta.csv").rename(tmp_path / "eta.csv")
    try:
        assert model_cache._stored(run, net, cohort) is None  # a run from before eta.csv: encode it
    finally:
        (tmp_path / "eta.csv").rename(run / "eta.csv")


def test_the_stored_drivers_are_what_the_cohort_gives_and_other_cohorts_are_computed(trained, tmp_path):
    import shutil

    from crl.analysis.drivers import observed_features, top_features
    from crl.runs.run import Run
    from crl.ui import run_cache

    cohort, run = trained
    stored = run_cache._stored_drivers(run, cohort)
    features, owners = observed_features(load_cohort(cohort))
    expected = top_features(Run(run).latents(), features, owners)
    assert stored is not None and set(stored) == set(expected)
    for latent, items in expected.items():
        assert [f for f, _ in stored[latent]] == [f for f, _ in items]
        np.testing.assert_allclose([r for _, r in stored[latent]], [r for _, r in items], atol=1e-5)
    assert all(
        items[0][1] > 0 for items in stored.values()
    )  # oriented: each rises with its strongest feature
    copy = tmp_path / "copy"
    shutil.copytree(cohort, copy)
    assert run_cache._stored_drivers(run, copy) is None
