"""Hover details: which observed features a latent moves with, per modality kind."""

import numpy as np
import pandas as pd
import pytest

from crl.analysis.drivers import describe_drivers, observed_features, top_features
from crl.data.cohort import Cohort, Modality
from crl.errors import CrlError


def _cohort(n=120, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    labs = np.column_stack([rng.normal(size=n), 3 * z[:, 0] + 0.1 * rng.normal(size=n), -z[:, 1]])
    series = rng.normal(size=(n, 2, 16)) + (2 * z[:, 1])[:, None, None] * np.array([0.0, 1.0])[None, :, None]
    images = rng.integers(0, 50, size=(n, 4, 4, 3)).astype(np.uint8)
    images[..., 0] += (np.clip(z[:, 0], -2, 2) * 40 + 100).astype(np.uint8)[:, None, None]
    ids = np.array([f"s{i}" for i in range(n)])
    cohort = Cohort(
        "t",
        ids,
        {
            "labs": Modality("labs", "tabular", labs.astype(np.float32), ["noise", "glucose", "insulin"]),
            "sleep": Modality("sleep", "timeseries", series.astype(np.float32), ["hr", "spo2"]),
            "eye": Modality("eye", "image", images, ["R", "G", "B"]),
        },
    )
    latents = pd.DataFrame(
        {"labs.z0": z[:, 0], "sleep.z0": z[:, 1], "eye.z0": z[:, 0]}, index=pd.Index(ids, name="subject_id")
    )
    return cohort, latents


def test_features_cover_every_kind_with_readable_labels():
    cohort, _ = _cohort()
    table, owners = observed_features(cohort)
    assert list(table.columns) == [
        "labs: noise",
        "labs: glucose",
        "labs: insulin",
        "sleep: hr (mean over time)",
        "sleep: spo2 (mean over time)",
        "eye: mean R",
        "eye: mean G",
        "eye: mean B",
    ]
    assert owners == ["labs"] * 3 + ["sleep"] * 2 + ["eye"] * 3
    assert table.shape == (120, 8)


def test_each_latent_is_described_by_its_own_modality_strongest_first():
    cohort, latents = _cohort()
    table, owners = observed_features(cohort)
    found = top_features(latents, table, owners, k=2)
    assert found["labs.z0"][0][0] == "labs: glucose" and found["labs.z0"][0][1] > 0.9
    assert found["sleep.z0"][0][0] == "sleep: spo2 (mean over time)"
    assert found["eye.z0"][0][0] == "eye: mean R"
    assert all(name.startswith("labs:") for name, _ in found["labs.z0"])
    # Without the own-modality rule labs.z0 may match any modality; glucose still wins.
    anywhere = top_features(latents, table, owners, k=8, own_modality=False)
    assert len(anywhere["labs.z0"]) == 8


def test_signs_are_kept_and_shown():
    cohort, latents = _cohort()
    table, owners = observed_features(cohort)
    latents = latents.assign(**{"labs.z0": -latents["labs.z0"]})
    label, r = top_features(latents, table, owners, k=1)["labs.z0"][0]
    assert label == "labs: glucose" and r < -0.9
    assert describe_drivers([(label, -0.8234)]).endswith("labs: glucose (r = −0.82)")
    assert describe_drivers([("a-b", 0.5)]).endswith("a-b (r = +0.50)")  # hyphens in labels stay
    weak = describe_drivers([("a", 0.5), ("b", 0.05)])
    assert "a (r" in weak and "b (r" not in weak
    assert "every |r| < 0.2" in describe_drivers([("b", 0.05)])
    assert describe_drivers([]) == ""


def test_subjects_join_by_id_and_too_few_raise():
    cohort, latents = _cohort()
    table, owners = observed_features(cohort)
    shuffled = latents.sample(frac=1.0, random_state=1)
    a, b = top_features(shuffled, table, owners), top_features(latents, table, owners)
    for latent in b:
        assert [x for x, _ in a[latent]] == [x for x, _ in b[latent]]
        assert [r for _, r in a[latent]] == pytest.approx([r for _, r in b[latent]])
    with pytest.raises(CrlError, match="shared"):
        top_features(latents.iloc[:5], table, owners)
