"""load_cohort: every format loads, subjects align in one sorted order, policies apply, the split is clean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cohort_factory import IMAGE, TABULAR, TIMESERIES, edit_manifest, make_cohort, subject_ids, write_manifest
from PIL import Image

import crl.data.validate as validate_module
from crl.data.cohort import Cohort
from crl.data.load import load_cohort
from crl.data.loaders import LoadError, load_covariates, load_images, load_tabular, load_timeseries
from crl.errors import CohortError

FORMATS = [
    dict(tabular="csv", timeseries="npz", image="png", covariates=None),
    dict(tabular="parquet", timeseries="csv", image="jpg", covariates="csv"),
    dict(tabular="csv", timeseries="parquet", image="npz", covariates="parquet", colour=True),
    dict(tabular="parquet", timeseries="npz", image="png", covariates="csv", colour=True),
]


@pytest.mark.parametrize("formats", FORMATS, ids=lambda f: "-".join(str(v) for v in f.values() if v))
def test_every_format_loads(tmp_path, formats):
    root = make_cohort(tmp_path, **formats)
    cohort = load_cohort(root)
    assert isinstance(cohort, Cohort)
    assert cohort.name == "test-cohort" and cohort.root == root and cohort.excluded == {}
    assert cohort.subject_ids.dtype.kind == "U" and list(cohort.subject_ids) == subject_ids(40)
    labs, sleep, retina = (cohort.modalities[name] for name in (TABULAR, TIMESERIES, IMAGE))
    assert (labs.kind, labs.data.shape, labs.data.dtype) == ("tabular", (40, 4), np.float32)
    assert labs.feature_names == ["f0", "f1", "f2", "f3"]
    assert (sleep.kind, sleep.data.shape, sleep.data.dtype) == ("timeseries", (40, 2, 12), np.float32)
    assert sleep.feature_names == ["c0", "c1"]
    channels = 3 if formats.get("colour") else 1
    assert (retina.kind, retina.data.shape, retina.data.dtype) == ("image", (40, 8, 8, channels), np.uint8)
    assert retina.feature_names == (["R", "G", "B"] if channels == 3 else ["gray"])
    assert all(m.latents == 2 for m in cohort.modalities.values())
    if formats["covariates"]:
        assert list(cohort.covariates.index) == list(cohort.subject_ids)
        assert list(cohort.covariates.columns) == ["age", "sex"]
        assert set(cohort.covariates["sex"]) <= {"F", "M"}
    else:
        assert cohort.covariates is None


def test_tabular_values_match_the_file_by_subject(tmp_path):
    root = make_cohort(tmp_path)
    frame = pd.read_csv(root / f"{TABULAR}.csv", dtype={"subject_id": str})
    frame.sample(frac=1.0, random_state=3).to_csv(root / f"{TABULAR}.csv", index=False)  # rows out of order
    cohort = load_cohort(root)
    expected = frame.set_index("subject_id").loc[cohort.subject_ids].to_numpy(np.float32)
    np.testing.assert_array_equal(cohort.modalities[TABULAR].data, expected)


@pytest.mark.parametrize("table", ["csv", "parquet"])
def test_long_table_pivots_to_the_same_array_as_npz(tmp_path, table):
    from_npz = load_cohort(make_cohort(tmp_path / "a", timeseries="npz")).modalities[TIMESERIES].data
    from_long = load_cohort(make_cohort(tmp_path / "b", timeseries=table)).modalities[TIMESERIES].data
    np.testing.assert_allclose(from_long, from_npz, rtol=1e-6)


def test_long_table_with_dates_is_sorted_by_time(tmp_path):
    root = make_cohort(tmp_path, timeseries="csv", image=None)
    frame = pd.read_csv(root / f"{TIMESERIES}.csv", dtype={"subject_id": str})
    expected = load_cohort(root).modalities[TIMESERIES].data
    frame["time"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["time"], unit="D")).dt.strftime(
        "%Y-%m-%d"
    )
    frame.to_csv(root / f"{TIMESERIES}.csv", index=False)
    np.testing.assert_allclose(load_cohort(root).modalities[TIMESERIES].data, expected, rtol=1e-6)


@pytest.mark.parametrize("image", ["npz", "jpg"])
def test_images_match_the_png_folder(tmp_path, image):
    png = load_cohort(make_cohort(tmp_path / "a", image="png")).modalities[IMAGE].data
    other = load_cohort(make_cohort(tmp_path / "b", image=image)).modalities[IMAGE].data
    if image == "npz":
        np.testing.assert_array_equal(other, png)
    else:  # JPEG is lossy, but the pixels must still belong to the right subjects
        error = np.abs(other.astype(int) - png.astype(int)).mean()
        shuffled = np.abs(other.astype(int) - png[::-1].astype(int)).mean()
        assert error < shuffled


def test_ids_are_text_and_keep_leading_zeros(tmp_path):
    root = tmp_path / "zeros"
    root.mkdir()
    ids = [f"{i:03d}" for i in range(1, 31)]
    rng = np.random.default_rng(0)
    pd.DataFrame({"pid": ids, "x": rng.normal(size=30), "y": rng.normal(size=30)}).to_csv(
        root / "t.csv", index=False
    )
    np.savez(root / "s.npz", ids=np.asarray(ids), values=rng.normal(size=(30, 1, 5)))
    write_manifest(
        root,
        {
            "name": "zeros",
            "id": "pid",
            "modalities": {
                "t": {"kind": "tabular", "path": "t.csv"},
                "s": {"kind": "timeseries", "path": "s.npz"},
            },
        },
    )
    cohort = load_cohort(root)
    assert list(cohort.subject_ids) == ids
    assert cohort.modalities["s"].feature_names == ["channel0"]


def test_whole_number_float_ids_match_integer_ids(tmp_path):
    root = tmp_path / "floats"
    root.mkdir()
    rng = np.random.default_rng(0)
    pd.DataFrame({"pid": np.arange(25, dtype=float), "x": rng.normal(size=25)}).to_parquet(root / "t.parquet")
    np.savez(root / "s.npz", ids=np.arange(25), values=rng.normal(size=(25, 2, 4)))
    write_manifest(
        root,
        {
            "name": "floats",
            "id": "pid",
            "modalities": {
                "t": {"kind": "tabular", "path": "t.parquet"},
                "s": {"kind": "timeseries", "path": "s.npz"},
            },
        },
    )
    cohort = load_cohort(root)
    assert len(cohort) == 25 and "7" in cohort.subject_ids


def test_saved_row_index_column_is_not_a_feature(tmp_path):
    root = make_cohort(tmp_path)
    frame = pd.read_csv(root / f"{TABULAR}.csv", dtype={"subject_id": str})
    frame.to_csv(root / f"{TABULAR}.csv")
    assert load_cohort(root).modalities[TABULAR].feature_names == ["f0", "f1", "f2", "f3"]


def test_subjects_missing_somewhere_are_excluded_with_reasons(tmp_path):
    root = make_cohort(tmp_path, covariates="csv")
    for subject in ("s001", "s002"):
        (root / IMAGE / f"{subject}.png").unlink()
    frame = pd.read_csv(root / f"{TABULAR}.csv", dtype={"subject_id": str})
    frame[frame.subject_id != "s005"].to_csv(root / f"{TABULAR}.csv", index=False)
    cohort = load_cohort(root)
    assert len(cohort) == 37 and "s001" not in cohort.subject_ids
    assert cohort.excluded == {
        "s001": f"missing from {IMAGE}",
        "s002": f"missing from {IMAGE}",
        "s005": f"missing from {TABULAR}",
    }
    assert list(cohort.subject_ids) == sorted(cohort.subject_ids)
    for m in cohort.modalities.values():
        assert len(m.data) == 37
    assert list(cohort.covariates.index) == list(cohort.subject_ids)


def test_covariate_rows_missing_become_nan(tmp_path):
    root = make_cohort(tmp_path, covariates="csv")
    frame = pd.read_csv(root / "clinical.csv", dtype={"subject_id": str})
    frame.iloc[3:].iloc[::-1].to_csv(root / "clinical.csv", index=False)  # reversed, and s000..s002 dropped
    cohort = load_cohort(root)
    assert len(cohort) == 40 and cohort.excluded == {}
    covariates = cohort.covariates
    assert list(covariates.index) == list(cohort.subject_ids)
    assert covariates.loc[["s000", "s001", "s002"], "age"].isna().all()
    assert covariates.loc["s010", "age"] == frame.set_index("subject_id").loc["s010", "age"]


def _with_nan(tmp_path):
    root = make_cohort(tmp_path)
    frame = pd.read_csv(root / f"{TABULAR}.csv", dtype={"subject_id": str})
    frame.loc[[1, 2], "f1"] = np.nan
    frame.loc[4, "f3"] = np.inf
    frame.to_csv(root / f"{TABULAR}.csv", index=False)
    return root, frame


def test_nan_policy_error_raises_with_the_report(tmp_path):
    root, _ = _with_nan(tmp_path)
    with pytest.raises(CohortError) as caught:
        load_cohort(root)
    error = caught.value
    assert error.report is not None and not error.report.ok
    assert "f1 (2 NaN), f3 (1 inf)" in str(error)
    assert str(error).splitlines()[-1] == error.report.summary()


def test_nan_policy_drop_excludes_the_subjects(tmp_path):
    root, _ = _with_nan(tmp_path)
    cohort = load_cohort(root, nan_policy="drop")
    assert len(cohort) == 37
    assert cohort.excluded == {
        s: f"missing or infinite values in {TABULAR}" for s in ("s001", "s002", "s004")
    }
    assert np.isfinite(cohort.modalities[TABULAR].data).all()


def test_nan_policy_impute_uses_column_medians(tmp_path):
    root, frame = _with_nan(tmp_path)
    cohort = load_cohort(root, nan_policy="impute")
    assert len(cohort) == 40
    data = cohort.modalities[TABULAR].data
    assert np.isfinite(data).all()
    median_f1 = np.median(frame["f1"].dropna().to_numpy(np.float32))
    assert data[1, 1] == pytest.approx(median_f1) and data[2, 1] == pytest.approx(median_f1)
    finite_f3 = frame["f3"].to_numpy(np.float32)
    assert data[4, 3] == pytest.approx(np.median(finite_f3[np.isfinite(finite_f3)]))
    assert data[0, 1] == pytest.approx(frame.loc[0, "f1"])  # untouched values stay


def _unequal(tmp_path):
    """s010 has 9 steps, everyone else 12."""
    root = make_cohort(tmp_path, timeseries="csv", image=None)
    frame = pd.read_csv(root / f"{TIMESERIES}.csv", dtype={"subject_id": str})
    frame = frame[~((frame.subject_id == "s010") & (frame.time >= 9))]
    frame.to_csv(root / f"{TIMESERIES}.csv", index=False)
    series = frame[frame.subject_id == "s010"].sort_values("time")[["c0", "c1"]].to_numpy(np.float32).T
    return root, series


@pytest.mark.parametrize(("policy", "length"), [("pad", 12), ("crop", 9), ("resample", 12)])
def test_length_policy(tmp_path, policy, length):
    root, series = _unequal(tmp_path)
    with pytest.raises(CohortError, match="unequal lengths"):
        load_cohort(root)
    cohort = load_cohort(root, length_policy=policy)
    data = cohort.modalities[TIMESERIES].data
    assert data.shape == (40, 2, length)
    s010 = data[list(cohort.subject_ids).index("s010")]
    if policy == "pad":
        np.testing.assert_array_equal(s010[:, :9], series)
        np.testing.assert_array_equal(s010[:, 9:], np.repeat(series[:, -1:], 3, axis=1))
    elif policy == "crop":
        np.testing.assert_array_equal(s010, series)
    else:
        np.testing.assert_allclose(s010[:, [0, -1]], series[:, [0, -1]], rtol=1e-6)
        assert not np.allclose(s010[:, :9], series)  # stretched, not padded


def test_length_policy_from_the_manifest(tmp_path):
    root, _ = _unequal(tmp_path)

    def crop(manifest):
        manifest["modalities"][TIMESERIES]["length_policy"] = "crop"

    edit_manifest(root, crop)
    assert load_cohort(root).modalities[TIMESERIES].data.shape == (40, 2, 9)


def test_each_file_is_read_once(tmp_path, monkeypatch):
    root = make_cohort(tmp_path)
    calls = []
    original = validate_module.load_images

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(validate_module, "load_images", counting)
    load_cohort(root)
    assert len(calls) == 1


def test_image_npz_floats_and_two_dimensional_series(tmp_path):
    root = make_cohort(tmp_path, image="npz")
    rng = np.random.default_rng(1)
    images = rng.random((40, 8, 8, 3))
    np.savez(root / f"{IMAGE}.npz", ids=np.asarray(subject_ids(40)), images=images)
    np.savez(root / f"{TIMESERIES}.npz", ids=np.asarray(subject_ids(40)), values=rng.normal(size=(40, 7)))
    cohort = load_cohort(root)
    np.testing.assert_array_equal(cohort.modalities[IMAGE].data, np.rint(images * 255).astype(np.uint8))
    assert cohort.modalities[TIMESERIES].data.shape == (40, 1, 7)


def test_sixteen_bit_png_is_reduced_to_eight_bits(tmp_path):
    root = make_cohort(tmp_path, image_size=4)
    Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16)).save(root / IMAGE / "s000.png")
    cohort = load_cohort(root)
    assert (cohort.modalities[IMAGE].data[0] == 40000 >> 8).all()


def test_loaders_work_on_their_own(tmp_path):
    root = make_cohort(tmp_path, covariates="csv")
    ids, data, names = load_tabular(root / f"{TABULAR}.csv", "subject_id")
    assert ids.dtype.kind == "U" and data.shape == (40, 4) and names == ["f0", "f1", "f2", "f3"]
    assert load_images(root / IMAGE).data.shape == (40, 8, 8, 1)
    assert load_timeseries(root / f"{TIMESERIES}.npz", "subject_id").data.shape == (40, 2, 12)
    assert load_covariates(root / "clinical.csv", "subject_id").index.name == "subject_id"
    with pytest.raises(LoadError, match="no ID column 'patient'") as caught:
        load_tabular(root / f"{TABULAR}.csv", "patient")
    assert [p.check for p in caught.value.problems] == ["missing_id_column"]
    found = []
    with pytest.raises(LoadError) as caught:
        load_tabular(root / f"{TABULAR}.csv", "patient", found)
    assert caught.value.problems == found and found[0].check == "missing_id_column"


def test_split_is_seeded_and_disjoint(tmp_path):
    cohort = load_cohort(make_cohort(tmp_path))
    train, validation = cohort.split(seed=3)
    again_train, again_validation = cohort.split(seed=3)
    np.testing.assert_array_equal(train, again_train)
    np.testing.assert_array_equal(validation, again_validation)
    assert len(validation) == 8 and len(train) == 32
    assert not set(train) & set(validation)
    assert set(train) | set(validation) == set(range(40))
    other_train, _ = cohort.split(seed=4)
    assert not np.array_equal(train, other_train)


def test_normaliser_sees_training_rows_only(tmp_path):
    cohort = load_cohort(make_cohort(tmp_path))
    train, validation = cohort.split(seed=0)
    before = cohort.fit_normaliser(train)
    cohort.modalities[TABULAR].data[validation] = 1e6
    cohort.modalities[TIMESERIES].data[validation] = -1e6
    after = cohort.fit_normaliser(train)
    for name in (TABULAR, TIMESERIES):
        np.testing.assert_array_equal(before.centre[name], after.centre[name])
        np.testing.assert_array_equal(before.scale[name], after.scale[name])
    labs = cohort.modalities[TABULAR].data
    np.testing.assert_allclose(after.centre[TABULAR], labs[train].mean(axis=0), rtol=1e-5)
    assert not np.allclose(cohort.fit_normaliser(np.arange(40)).centre[TABULAR], after.centre[TABULAR])


def test_symbolic_links_to_regular_files_elsewhere_are_read(tmp_path):
    """The regular-file rule follows links: a source kept elsewhere and linked into the folder loads."""
    root = make_cohort(tmp_path / "a", covariates="csv")
    elsewhere = tmp_path / "store"
    elsewhere.mkdir()
    for name in (f"{TABULAR}.csv", IMAGE, "clinical.csv"):
        (root / name).rename(elsewhere / name)
        (root / name).symlink_to(elsewhere / name)
    cohort = load_cohort(root)
    assert len(cohort) == 40 and cohort.covariates is not None
    assert cohort.modalities[IMAGE].data.shape == (40, 8, 8, 1)


def test_images_at_the_size_cap_are_read(tmp_path):
    from cohort_factory import blank_png

    from crl.data.loaders import MAX_IMAGE_SIDE

    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(blank_png(MAX_IMAGE_SIDE, 2))
    assert load_images(folder).data.shape == (1, 2, MAX_IMAGE_SIDE, 1)
