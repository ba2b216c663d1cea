"""validate_cohort: every broken cohort gets its own named problem, all at once, and never an exception."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from cohort_factory import IMAGE, TABULAR, TIMESERIES, edit_manifest, make_cohort, subject_ids, write_table
from hostile_cohorts import (
    absolute_modality_path,
    covariates_link_to_a_fifo,
    covariates_path_leaves_the_folder,
    duplicate_column_names_csv,
    duplicate_column_names_parquet,
    huge_images_in_tiny_files,
    images_wider_than_the_cap,
    latents_too_many,
    modality_path_leaves_the_folder,
    modality_path_with_a_control_character,
    npz_images_wider_than_the_cap,
    npz_images_zero_height,
    series_npz_of_shape,
    tabular_source_is_a_fifo,
    timeseries_source_links_to_dev_zero,
)
from PIL import Image

from crl.cli import main
from crl.data.validate import ValidationReport, validate_cohort
from crl.errors import ConfigError


def _labs(root):
    return pd.read_csv(root / f"{TABULAR}.csv", dtype={"subject_id": str})


def _save_labs(root, frame):
    frame.to_csv(root / f"{TABULAR}.csv", index=False)


def _set(modality, key, value):
    def change(m):
        m["modalities"][modality][key] = value

    return change


# Each builder takes tmp_path and returns a cohort folder with exactly one thing wrong.


def no_manifest(tmp):
    root = make_cohort(tmp)
    (root / "cohort.toml").unlink()
    return root


def bad_toml(tmp):
    root = make_cohort(tmp)
    (root / "cohort.toml").write_text('name = "x"\n[modalities.labs\nkind = "tabular"\n')
    return root


def missing_id_key(tmp):
    return edit_manifest(make_cohort(tmp), lambda m: m.pop("id"))


def no_modalities(tmp):
    return edit_manifest(make_cohort(tmp), lambda m: m.pop("modalities"))


def unknown_kind(tmp):
    return edit_manifest(make_cohort(tmp), _set(IMAGE, "kind", "imaging"))


def missing_kind(tmp):
    return edit_manifest(make_cohort(tmp), lambda m: m["modalities"][TABULAR].pop("kind"))


def missing_path(tmp):
    return edit_manifest(make_cohort(tmp), lambda m: m["modalities"][TABULAR].pop("path"))


def dotted_modality_name(tmp):
    return edit_manifest(
        make_cohort(tmp), lambda m: m["modalities"].update({"eye.left": m["modalities"].pop(IMAGE)})
    )


def _renamed_modality(name):
    def build(tmp):
        return edit_manifest(
            make_cohort(tmp), lambda m: m["modalities"].update({name: m["modalities"].pop(IMAGE)})
        )

    build.__name__ = f"modality_named_{name.encode('unicode_escape').decode() or 'empty'}"
    return build


def deeply_nested_toml(tmp):
    root = make_cohort(tmp)
    (root / "cohort.toml").write_text("x = " + "[" * 500 + "]" * 500 + "\n")
    return root


def bad_nan_policy_in_manifest(tmp):
    return edit_manifest(make_cohort(tmp), _set(TABULAR, "nan_policy", "skip"))


def latents_zero(tmp):
    return edit_manifest(make_cohort(tmp), _set(TABULAR, "latents", 0))


def latents_text(tmp):
    return edit_manifest(make_cohort(tmp), _set(TIMESERIES, "latents", "three"))


def missing_file(tmp):
    root = make_cohort(tmp)
    (root / f"{TABULAR}.csv").rename(root / "labs_v2.csv")
    return root


def unsupported_suffix(tmp):
    root = make_cohort(tmp)
    (root / f"{TABULAR}.csv").rename(root / "labs.xlsx")
    return edit_manifest(root, _set(TABULAR, "path", "labs.xlsx"))


def malformed_csv(tmp):
    root = make_cohort(tmp)
    with open(root / f"{TABULAR}.csv", "a") as f:
        f.write("s999,1,2,3,4,5,6,7\n")
    return root


def empty_csv(tmp):
    root = make_cohort(tmp)
    (root / f"{TABULAR}.csv").write_bytes(b"")
    return root


def bad_parquet(tmp):
    root = make_cohort(tmp, tabular="parquet")
    data = (root / f"{TABULAR}.parquet").read_bytes()
    (root / f"{TABULAR}.parquet").write_bytes(data[: len(data) // 2])
    return root


def truncated_png(tmp):
    root = make_cohort(tmp, image_size=32)
    path = root / IMAGE / "s003.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    return root


def not_an_image(tmp):
    root = make_cohort(tmp)
    (root / IMAGE / "s004.png").write_text("this is not a picture")
    return root


def wrong_npz_keys_timeseries(tmp):
    root = make_cohort(tmp)
    np.savez(root / f"{TIMESERIES}.npz", subjects=np.asarray(subject_ids(40)), x=np.zeros((40, 2, 5)))
    return root


def wrong_npz_keys_images(tmp):
    root = make_cohort(tmp, image="npz")
    np.savez(root / f"{IMAGE}.npz", ids=np.asarray(subject_ids(40)), pixels=np.zeros((40, 8, 8), np.uint8))
    return root


def npz_values_wrong_shape(tmp):
    root = make_cohort(tmp)
    np.savez(root / f"{TIMESERIES}.npz", ids=np.asarray(subject_ids(40)), values=np.zeros(40))
    return root


def npz_ids_wrong_length(tmp):
    root = make_cohort(tmp)
    np.savez(root / f"{TIMESERIES}.npz", ids=np.asarray(subject_ids(39)), values=np.zeros((40, 2, 5)))
    return root


def image_values_out_of_range(tmp):
    root = make_cohort(tmp, image="npz")
    np.savez(
        root / f"{IMAGE}.npz", ids=np.asarray(subject_ids(40)), images=np.full((40, 8, 8), 300, np.int16)
    )
    return root


def missing_id_column(tmp):
    root = make_cohort(tmp)
    _save_labs(root, _labs(root).rename(columns={"subject_id": "Subject_ID"}))
    return root


def rows_without_id(tmp):
    root = make_cohort(tmp)
    frame = _labs(root)
    frame.loc[3, "subject_id"] = None
    _save_labs(root, frame)
    return root


def duplicate_ids_tabular(tmp):
    root = make_cohort(tmp)
    frame = _labs(root)
    _save_labs(root, pd.concat([frame, frame.iloc[[5, 6]]]))
    return root


def duplicate_ids_npz(tmp):
    root = make_cohort(tmp)
    ids = subject_ids(40)
    ids[1] = ids[0]
    np.savez(root / f"{TIMESERIES}.npz", ids=np.asarray(ids), values=np.zeros((40, 2, 5)))
    return root


def duplicate_image_files(tmp):
    root = make_cohort(tmp)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / IMAGE / "s002.jpg")
    return root


def non_numeric_column(tmp):
    root = make_cohort(tmp)
    frame = _labs(root)
    frame["crp"] = ["<5"] * 3 + ["4.2"] * 37
    _save_labs(root, frame)
    return root


def nan_values(tmp):
    root = make_cohort(tmp)
    frame = _labs(root)
    frame.loc[[1, 2, 3], "f1"] = np.nan
    _save_labs(root, frame)
    return root


def inf_values(tmp):
    root = make_cohort(tmp, tabular="parquet")
    frame = pd.read_parquet(root / f"{TABULAR}.parquet")
    frame.loc[7, "f0"] = np.inf
    write_table(frame, root / f"{TABULAR}.parquet")
    return root


def empty_column(tmp):
    root = make_cohort(tmp)
    frame = _labs(root)
    frame["f2"] = np.nan
    _save_labs(root, frame)
    return root


def no_feature_columns(tmp):
    root = make_cohort(tmp)
    _save_labs(root, _labs(root)[["subject_id"]])
    return root


def images_of_different_sizes(tmp):
    root = make_cohort(tmp)
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / IMAGE / "s007.png")
    return root


def empty_image_folder(tmp):
    root = make_cohort(tmp)
    shutil.rmtree(root / IMAGE)
    (root / IMAGE).mkdir()
    return root


def unequal_length_series(tmp):
    root = make_cohort(tmp, timeseries="csv")
    frame = pd.read_csv(root / f"{TIMESERIES}.csv", dtype={"subject_id": str})
    frame = frame[~((frame.subject_id == "s010") & (frame.time >= 9))]
    frame.to_csv(root / f"{TIMESERIES}.csv", index=False)
    return root


def missing_time_column(tmp):
    root = make_cohort(tmp, timeseries="csv")
    frame = pd.read_csv(root / f"{TIMESERIES}.csv", dtype={"subject_id": str})
    frame.rename(columns={"time": "hours"}).to_csv(root / f"{TIMESERIES}.csv", index=False)
    return root


def duplicate_time_points(tmp):
    root = make_cohort(tmp, timeseries="parquet")
    frame = pd.read_parquet(root / f"{TIMESERIES}.parquet")
    frame.loc[frame.index[0], "time"] = frame.loc[frame.index[1], "time"]
    frame.loc[frame.index[0], "subject_id"] = frame.loc[frame.index[1], "subject_id"]
    write_table(frame, root / f"{TIMESERIES}.parquet")
    return root


def unreadable_time_values(tmp):
    root = make_cohort(tmp, timeseries="csv")
    frame = pd.read_csv(root / f"{TIMESERIES}.csv", dtype={"subject_id": str})
    frame["time"] = frame["time"].astype(object)
    frame.loc[frame.index[:2], "time"] = "morning"
    frame.to_csv(root / f"{TIMESERIES}.csv", index=False)
    return root


def too_few_subjects(tmp):
    return make_cohort(tmp, n=12)


def too_few_after_missing(tmp):
    root = make_cohort(tmp)
    for subject in subject_ids(40)[15:]:
        (root / IMAGE / f"{subject}.png").unlink()
    return root


def no_overlap(tmp):
    root = make_cohort(tmp)
    frame = _labs(root)
    frame["subject_id"] = [f"P{i}" for i in range(40)]
    _save_labs(root, frame)
    return root


def missing_folder(tmp):
    return tmp / "nowhere"


def covariates_missing_file(tmp):
    root = make_cohort(tmp, covariates="csv")
    (root / "clinical.csv").unlink()
    return root


def covariates_missing_id_column(tmp):
    root = make_cohort(tmp, covariates="csv")
    frame = pd.read_csv(root / "clinical.csv")
    frame.rename(columns={"subject_id": "patient"}).to_csv(root / "clinical.csv", index=False)
    return root


def covariates_duplicate_ids(tmp):
    root = make_cohort(tmp, covariates="parquet")
    frame = pd.read_parquet(root / "clinical.parquet")
    write_table(pd.concat([frame, frame.iloc[:1]]), root / "clinical.parquet")
    return root


def covariates_unreadable(tmp):
    root = make_cohort(tmp, covariates="parquet")
    (root / "clinical.parquet").write_text("subject_id,age\ns000,3\n")
    return root


BROKEN = [
    (missing_folder, "no_folder", "does not exist"),
    (no_manifest, "no_manifest", "no cohort.toml"),
    (bad_toml, "unreadable_manifest", "cohort.toml is not valid TOML"),
    (missing_id_key, "missing_key", "no 'id'"),
    (no_modalities, "missing_key", "no modalities"),
    (unknown_kind, "unknown_kind", "unknown kind 'imaging'. Did you mean 'image'?"),
    (missing_kind, "missing_key", "[modalities.labs] has no 'kind'"),
    (missing_path, "missing_key", "[modalities.labs] has no 'path'"),
    (dotted_modality_name, "bad_name", "'eye.left' contains '.'"),
    (_renamed_modality("a,b"), "bad_name", "contains ','"),
    (_renamed_modality("eye\nleft"), "bad_name", "contains '\\n'"),
    (_renamed_modality(""), "bad_name", "a modality name is empty"),
    (_renamed_modality("eye\x07"), "bad_name", "contains '\\x07'"),
    (_renamed_modality("x" * 41), "bad_name", "is longer than 40 characters"),
    (deeply_nested_toml, "unreadable_manifest", "nests arrays or tables too deeply"),
    (bad_nan_policy_in_manifest, "bad_value", "nan_policy = 'skip' is not one of"),
    (latents_zero, "bad_latents", "latents = 0 is not a positive whole number"),
    (latents_text, "bad_latents", "latents = 'three' is not a positive whole number"),
    (missing_file, "missing_file", "labs.csv does not exist. Did you mean 'labs_v2.csv'?"),
    (unsupported_suffix, "unsupported_file", "unsupported file type '.xlsx'"),
    (malformed_csv, "unreadable_file", "cannot read it as a table (.csv or .parquet) (ParserError"),
    (empty_csv, "unreadable_file", "No columns to parse from file"),
    (bad_parquet, "unreadable_file", "Parquet magic bytes not found"),
    (truncated_png, "corrupt_image", "is corrupt or truncated"),
    (not_an_image, "corrupt_image", "cannot be read as an image"),
    (wrong_npz_keys_timeseries, "bad_npz", "it needs 'ids', 'values' (missing 'ids', 'values')"),
    (wrong_npz_keys_images, "bad_npz", "it needs 'ids', 'images' (missing 'images')"),
    (npz_values_wrong_shape, "bad_npz", "'values' must be numbers of shape (N, channels, T)"),
    (npz_ids_wrong_length, "bad_npz", "'ids' has shape (39,) but the data has 40 subjects"),
    (image_values_out_of_range, "image_dtype", "images must be 0..255"),
    (missing_id_column, "missing_id_column", "Column 'Subject_ID' differs only in case"),
    (rows_without_id, "missing_ids", "1 row has no subject ID (lines 5)"),
    (duplicate_ids_tabular, "duplicate_ids", "2 subject IDs appear more than once: s005 (x2), s006 (x2)"),
    (duplicate_ids_npz, "duplicate_ids", "s000 (x2)"),
    (duplicate_image_files, "duplicate_ids", "s002 (x2)"),
    (non_numeric_column, "non_numeric", "is not numeric: 3 values are not numbers, e.g. '<5'."),
    (nan_values, "non_finite", "3 missing or infinite values in 1 column, 3 subjects affected: f1 (3 NaN)"),
    (inf_values, "non_finite", "f0 (1 inf)"),
    (empty_column, "empty_column", "1 column holds no usable value at all: f2"),
    (no_feature_columns, "no_features", "has no numeric feature columns"),
    (images_of_different_sizes, "image_size", "most are 8x8 (width x height) but 1 is not: s007 (12x10)"),
    (empty_image_folder, "no_images", "holds no .png or .jpg images"),
    (
        unequal_length_series,
        "unequal_length",
        "unequal lengths (9 to 12 steps; most have 12); 1 differs: s010 (9)",
    ),
    (missing_time_column, "missing_time_column", "no time column 'time'"),
    (duplicate_time_points, "duplicate_time", "1 row repeats a (subject, time) pair, in subjects s0"),
    (unreadable_time_values, "bad_time", "neither numbers nor dates, e.g. 'morning'."),
    (too_few_subjects, "too_few_subjects", "only 12 subjects can be used"),
    (too_few_after_missing, "too_few_subjects", "only 15 subjects can be used"),
    (no_overlap, "no_overlap", "no subject is present in every modality"),
    (covariates_missing_file, "missing_file", "clinical.csv does not exist"),
    (covariates_missing_id_column, "missing_id_column", "no ID column 'subject_id'"),
    (covariates_duplicate_ids, "duplicate_ids", "1 subject ID appears more than once: s000 (x2)"),
    (covariates_unreadable, "unreadable_file", "cannot read it as a covariates table"),
    (latents_too_many, "bad_latents", "latents = 100000 is more than"),
    (images_wider_than_the_cap, "image_too_large", "40 are larger and were not decoded: s000.png (4100x1)"),
    (huge_images_in_tiny_files, "image_too_large", "s000.png (8000x8000), s001.png (8000x8000)"),
    (npz_images_wider_than_the_cap, "image_too_large", "'images' are 4100x2 pixels (width x height)"),
    (series_npz_of_shape((40, 3, 0)), "empty_dimension", "'values' has shape (40, 3, 0): 0 time steps"),
    (series_npz_of_shape((40, 0, 12)), "empty_dimension", "'values' has shape (40, 0, 12): 0 channels"),
    (series_npz_of_shape((40, 0)), "empty_dimension", "'values' has shape (40, 0): 0 time steps"),
    (npz_images_zero_height, "empty_dimension", "'images' has shape (40, 0, 8): 0 pixels high"),
    (tabular_source_is_a_fifo, "special_file", "is a named pipe (FIFO), not a regular file"),
    (
        timeseries_source_links_to_dev_zero,
        "special_file",
        "links to /dev/zero, a character device, not to a regular file",
    ),
    (covariates_link_to_a_fifo, "special_file", "a named pipe (FIFO), not to a regular file"),
    (absolute_modality_path, "bad_path", "is absolute; paths are relative to the cohort folder"),
    (modality_path_leaves_the_folder, "bad_path", "path '../outside.csv' contains '..'"),
    (modality_path_with_a_control_character, "bad_path", "path 'labs\\x00.csv' contains a control character"),
    (covariates_path_leaves_the_folder, "bad_path", "[covariates] path 'sub/../../clinical.csv' contains"),
    (duplicate_column_names_csv, "duplicate_columns", "1 column name appears more than once: f1 (x2)"),
    (duplicate_column_names_parquet, "duplicate_columns", "1 column name appears more than once: f0 (x2)"),
]


@pytest.mark.hostile
@pytest.mark.parametrize(("build", "check", "expected"), BROKEN, ids=[b.__name__ for b, _, _ in BROKEN])
def test_broken_cohort_gets_its_named_error(tmp_path, build, check, expected):
    report = validate_cohort(build(tmp_path))
    assert isinstance(report, ValidationReport)
    assert not report.ok
    matching = [p for p in report.errors if p.check == check]
    assert matching, report.format()
    assert any(expected in p.message for p in matching), report.format()
    assert all(p.fix for p in report.errors), "every error says how to fix it"
    lines = report.format().splitlines()
    assert len(lines) == len(report.problems) + 1
    assert lines[-1].startswith("cohort '") and f"{len(report.errors)} error" in lines[-1]
    json.dumps(report.to_dict())


def test_the_broken_cohorts_are_distinct():
    assert len(BROKEN) >= 25
    assert len({(check, expected) for _, check, expected in BROKEN}) == len(BROKEN)


def unknown_top_key(tmp):
    return edit_manifest(make_cohort(tmp), lambda m: m.update(nmae="x"))


def unknown_modality_key(tmp):
    return edit_manifest(make_cohort(tmp), _set(TABULAR, "latent", 3))


def missing_name(tmp):
    return edit_manifest(make_cohort(tmp), lambda m: m.pop("name"))


def constant_column(tmp):
    root = make_cohort(tmp)
    frame = _labs(root)
    frame["f3"] = 7.0
    _save_labs(root, frame)
    return root


def subjects_missing_from_images(tmp):
    root = make_cohort(tmp)
    for subject in ("s001", "s002", "s003"):
        (root / IMAGE / f"{subject}.png").unlink()
    return root


def covariates_missing_rows(tmp):
    root = make_cohort(tmp, covariates="csv")
    frame = pd.read_csv(root / "clinical.csv")
    frame.iloc[2:].to_csv(root / "clinical.csv", index=False)
    return root


def covariates_id_only(tmp):
    root = make_cohort(tmp, covariates="csv")
    pd.read_csv(root / "clinical.csv")[["subject_id"]].to_csv(root / "clinical.csv", index=False)
    return root


def stray_files_in_image_folder(tmp):
    root = make_cohort(tmp)
    (root / IMAGE / "notes.txt").write_text("scanned 2021")
    return root


def mixed_gray_and_colour(tmp):
    root = make_cohort(tmp)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / IMAGE / "s000.png")
    return root


def saved_row_index(tmp):
    root = make_cohort(tmp)
    _labs(root).to_csv(root / f"{TABULAR}.csv")  # pandas' index written as an unnamed first column
    return root


WARNINGS = [
    (
        saved_row_index,
        "saved_index",
        "1 unnamed column (Unnamed: 0) looks like a saved row index and was ignored",
    ),
    (unknown_top_key, "unknown_key", "unknown key 'nmae' ignored. Did you mean 'name'?"),
    (unknown_modality_key, "unknown_key", "unknown key 'latent' ignored. Did you mean 'latents'?"),
    (missing_name, "missing_key", "no 'name'; using the folder name 'cohort'"),
    (constant_column, "constant_column", "f3 (always 7)"),
    (subjects_missing_from_images, "missing_subjects", "3 subjects have no 'retina' data and are left out"),
    (covariates_missing_rows, "covariates_missing_rows", "2 subjects have no row here"),
    (covariates_id_only, "no_covariates", "there are no covariates to show"),
    (stray_files_in_image_folder, "ignored_files", "ignored 1 entry that is not .png/.jpg: notes.txt"),
    (mixed_gray_and_colour, "image_mode", "1 image in colour and 39 in grayscale; all read as RGB"),
]


@pytest.mark.parametrize(("build", "check", "expected"), WARNINGS, ids=[b.__name__ for b, _, _ in WARNINGS])
def test_warning_leaves_the_cohort_usable(tmp_path, build, check, expected):
    report = validate_cohort(build(tmp_path))
    assert report.ok, report.format()
    matching = [p for p in report.warnings if p.check == check]
    assert any(expected in p.message for p in matching), report.format()


def test_all_problems_are_reported_at_once(tmp_path):
    root = make_cohort(tmp_path)
    frame = _labs(root)
    frame.loc[0, "f0"] = np.nan
    _save_labs(root, pd.concat([frame, frame.iloc[[4]]]))
    (root / f"{TIMESERIES}.npz").unlink()
    (root / IMAGE / "s009.png").write_bytes(b"\x89PNG broken")
    edit_manifest(root, lambda m: m.update(extra=1))
    report = validate_cohort(root)
    checks = {p.check for p in report.problems}
    assert {"non_finite", "duplicate_ids", "missing_file", "corrupt_image", "unknown_key"} <= checks
    where = {p.check: p for p in report.problems}
    assert where["corrupt_image"].file == f"{IMAGE}/s009.png" and where["corrupt_image"].subject == "s009"
    assert where["non_finite"].file == f"{TABULAR}.csv" and where["non_finite"].column == "f0"
    assert where["missing_file"].file == f"{TIMESERIES}.npz"


def test_missing_subjects_are_listed_and_excluded_with_a_reason(tmp_path):
    root = subjects_missing_from_images(tmp_path)
    report = validate_cohort(root)
    assert report.n_subjects == 37
    assert report.excluded == {s: f"missing from {IMAGE}" for s in ("s001", "s002", "s003")}
    warning = next(p for p in report.warnings if p.check == "missing_subjects")
    assert "s001, s002, s003" in warning.message and warning.file == IMAGE


def test_long_lists_are_cut_with_a_count(tmp_path):
    root = make_cohort(tmp_path)
    for subject in subject_ids(40)[:9]:
        (root / IMAGE / f"{subject}.png").unlink()
    report = validate_cohort(root)
    warning = next(p for p in report.warnings if p.check == "missing_subjects")
    assert "s000, s001, s002, s003, s004 and 4 more" in warning.message


def test_summary_counts(tmp_path):
    report = validate_cohort(constant_column(tmp_path))
    assert report.summary() == "cohort 'test-cohort': 40 subjects, 3 modalities, 0 errors, 1 warning"
    assert report.format().splitlines()[-1] == report.summary()
    data = report.to_dict()
    assert (
        data["ok"] is True and data["n_warnings"] == 1 and data["problems"][0]["check"] == "constant_column"
    )


def test_policies_turn_errors_into_warnings(tmp_path):
    root = nan_values(tmp_path)
    assert not validate_cohort(root).ok
    dropped = validate_cohort(root, nan_policy="drop")
    assert dropped.ok and dropped.n_subjects == 37
    assert set(dropped.excluded) == {"s001", "s002", "s003"}
    assert validate_cohort(root, nan_policy="impute").ok
    series = unequal_length_series(tmp_path / "b")
    for policy in ("pad", "crop", "resample"):
        report = validate_cohort(series, length_policy=policy)
        assert report.ok and any(p.check == "unequal_length" for p in report.warnings)


def test_policy_set_in_the_manifest(tmp_path):
    root = edit_manifest(nan_values(tmp_path), _set(TABULAR, "nan_policy", "drop"))
    assert validate_cohort(root).n_subjects == 37


def test_bad_option_value_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nan_policy='skip'"):
        validate_cohort(make_cohort(tmp_path), nan_policy="skip")


def test_manifest_file_path_is_accepted_for_the_folder(tmp_path):
    root = make_cohort(tmp_path)
    assert validate_cohort(root / "cohort.toml").ok


def test_cli_validate_ok(tmp_path, capsys):
    root = make_cohort(tmp_path)
    assert main(["validate", str(root)]) == 0
    out = capsys.readouterr().out
    assert "cohort 'test-cohort': 40 subjects, 3 modalities, 0 errors, 0 warnings" in out


@pytest.mark.parametrize("build", [malformed_csv, truncated_png, no_manifest, missing_folder, bad_toml])
def test_cli_validate_broken_exits_1_without_traceback(tmp_path, capsys, build):
    assert main(["validate", str(build(tmp_path))]) == 1
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    assert "error:" in text and " 0 errors" not in text


def test_cli_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["validate"])
    assert exit_info.value.code == 2
