"""A finished run keeps every subject's posterior means (latents.csv, eta.csv), so Traversal need not encode."""

from __future__ import annotations

import numpy as np
from test_app_traversal import trained  # noqa: F401 - the module-scoped fixture

from crl.analysis.traversal import cohort_posterior
from crl.data.load import load_cohort
from crl.runs.checkpoint import load_run
from crl.ui import model_cache


def test_the_stored_means_are_what_encoding_gives_and_other_cohorts_are_encoded(trained, tmp_path):  # noqa: F811
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
