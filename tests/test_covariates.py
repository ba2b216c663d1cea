"""PC links between clinical covariates and learned latents: planted links found, independent ones not."""

import numpy as np
import pandas as pd
import pytest

from crl.analysis.covariates import link_covariates
from crl.errors import CrlError


def _data(n=800, seed=0):
    """age -> z0 (a covariate causes a latent), z1 -> bmi (a latent causes a covariate), shoe_size alone."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"s{i}" for i in range(n)], name="subject_id")
    age = rng.normal(size=n)
    z0 = 0.8 * age + 0.6 * rng.normal(size=n)
    z1 = rng.normal(size=n)
    bmi = 0.7 * z1 + 0.7 * rng.normal(size=n)
    latents = pd.DataFrame({"sleep.z0": z0, "sleep.z1": z1}, index=ids)
    covariates = pd.DataFrame(
        {
            "age": age,
            "bmi": bmi,
            "shoe_size": rng.normal(size=n),
            "site": ["A"] * n,
            "visit": [1] * n,
            "sex": rng.integers(0, 2, n),
        },
        index=ids,
    )
    return latents, covariates


def _pairs(links):
    return {frozenset((a, b)) for a, b in zip(links.edges["a"], links.edges["b"], strict=False)}


def test_planted_links_are_found_and_independent_covariates_are_not():
    latents, covariates = _data()
    links = link_covariates(latents, covariates, alpha=0.05)
    pairs = _pairs(links)
    assert frozenset(("age", "sleep.z0")) in pairs
    assert frozenset(("bmi", "sleep.z1")) in pairs
    assert not any("shoe_size" in p for p in pairs)
    assert ("age", "sleep.z0") in {(a, z) for a, z, _ in links.latent_links()}  # covariate first
    assert links.dropped_columns == {"site": "not numeric", "visit": "the same value for everyone"}
    assert links.subjects == 800
    strength = dict(((a, z), s) for a, z, s in links.latent_links())[("age", "sleep.z0")]
    assert strength == pytest.approx(abs(np.corrcoef(covariates["age"], latents["sleep.z0"])[0, 1]))


def test_stricter_alpha_never_adds_links():
    latents, covariates = _data(n=300, seed=2)
    loose = _pairs(link_covariates(latents, covariates, alpha=0.3))
    strict = _pairs(link_covariates(latents, covariates, alpha=0.001))
    assert len(strict) <= len(loose)


def test_subjects_with_missing_values_are_left_out_and_counted():
    latents, covariates = _data(n=200)
    covariates.iloc[:15, 0] = np.nan
    links = link_covariates(latents, covariates.drop(columns=["site", "visit"]))
    assert links.subjects == 185 and links.dropped_subjects == 15


def test_subjects_are_joined_by_id_not_position():
    latents, covariates = _data(n=400, seed=3)
    shuffled = covariates.sample(frac=1.0, random_state=0)
    assert _pairs(link_covariates(latents, shuffled, alpha=0.05)) == _pairs(
        link_covariates(latents, covariates, alpha=0.05)
    )


def test_unusable_input_raises_readable_errors():
    latents, covariates = _data(n=100)
    with pytest.raises(CrlError, match="between 0 and 1"):
        link_covariates(latents, covariates, alpha=1.5)
    with pytest.raises(CrlError, match="no clinical covariates"):
        link_covariates(latents, covariates.iloc[:, :0])
    with pytest.raises(CrlError, match="usable number"):
        link_covariates(latents, covariates[["site"]])
    with pytest.raises(CrlError, match="only 10 subjects"):
        link_covariates(latents.iloc[:10], covariates)
    flat = latents.assign(**{"sleep.z1": 1.0})
    with pytest.raises(CrlError, match="never change"):
        link_covariates(flat, covariates)


def test_the_covariates_table_is_read_alone_with_named_problems(tmp_path):
    from crl.data.load import load_cohort, load_covariates_only
    from crl.data.synthetic import write_preset
    from crl.errors import CohortError

    cohort = write_preset("demo", tmp_path / "demo", n=120, seed=0)
    alone = load_covariates_only(cohort)
    loaded = load_cohort(cohort).covariates
    pd.testing.assert_frame_equal(alone.reindex(loaded.index), loaded, check_dtype=False)

    table = pd.read_csv(cohort / "clinical.csv")
    pd.concat([table, table.iloc[:1]]).to_csv(cohort / "clinical.csv", index=False)
    with pytest.raises(CohortError, match="clinical.csv"):
        load_covariates_only(cohort)
    (cohort / "clinical.csv").unlink()
    with pytest.raises(CohortError, match="clinical.csv"):
        load_covariates_only(cohort)
    manifest = (cohort / "cohort.toml").read_text()
    (cohort / "cohort.toml").write_text(manifest.split("[covariates]")[0])
    assert load_covariates_only(cohort) is None
