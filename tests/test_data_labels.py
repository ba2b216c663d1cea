"""Labels and units in cohort.toml: parsing with named problems, the Labels object, time axes, and the
validator's warning for a label whose column does not exist."""

from __future__ import annotations

import numpy as np
import pytest
from cohort_factory import edit_manifest, make_cohort

from crl.data.labels import Labels, labels_of, readable_name, time_axis
from crl.data.manifest import parse_manifest, read_manifest
from crl.data.manifest_labels import Label, TimeStep, parse_time_step
from crl.data.validate import validate_cohort

MANIFEST = """
name = "study"
id = "subject_id"

[modalities.sleep]
kind = "timeseries"
path = "sleep.npz"
label = "Home sleep test"
time_step = "10 min"
length_policy = "pad"
[modalities.sleep.channels]
heart_rate = { label = "Heart rate", unit = "bpm" }
spo2 = "SpO2"

[modalities.labs]
kind = "tabular"
path = "labs.csv"
[modalities.labs.columns]
glucose = { unit = "mmol/L" }

[modalities.fundus_left]
kind = "image"
path = "fundus_left"
label = "Left eye photograph"

[covariates]
path = "clinical.csv"
[covariates.columns]
systolic_bp = { label = "Systolic blood pressure", unit = "mmHg" }
"""


def _manifest(modalities: dict, covariates: dict | None = None):
    data = {"name": "x", "id": "sid", "modalities": modalities}
    if covariates is not None:
        data["covariates"] = covariates
    return parse_manifest(data)


def _sleep(**keys) -> dict:
    return {"sleep": {"kind": "timeseries", "path": "s.npz", **keys}}


def test_labels_units_and_time_step_parse_without_problems(tmp_path):
    (tmp_path / "cohort.toml").write_text(MANIFEST, encoding="utf-8")
    manifest, problems = read_manifest(tmp_path)
    assert problems == []
    sleep, labs, eye = manifest.modalities.values()
    assert sleep.label == "Home sleep test" and sleep.time_step == TimeStep(10.0, "min")
    assert sleep.feature_labels == {"heart_rate": Label("Heart rate", "bpm"), "spo2": Label("SpO2")}
    assert sleep.options == {"length_policy": "pad"}  # display keys are fields, not options
    assert labs.feature_labels == {"glucose": Label(None, "mmol/L")} and labs.label is None
    assert eye.label == "Left eye photograph"
    assert manifest.covariates.labels == {"systolic_bp": Label("Systolic blood pressure", "mmHg")}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 min", TimeStep(10.0, "min")),
        ("30s", TimeStep(30.0, "s")),
        ("0.5 h", TimeStep(0.5, "h")),
        ("2 hours", TimeStep(2.0, "h")),
        (" 1 Minute ", TimeStep(1.0, "min")),
    ],
)
def test_time_steps_in_the_accepted_forms(text, expected):
    assert parse_time_step(text) == expected


@pytest.mark.parametrize("bad", ["ten minutes", "10", "10 days", "-5 s", "0 min", "10 min 5 s", 600, "nan s"])
def test_a_bad_time_step_is_a_named_error_saying_the_accepted_form(bad):
    manifest, problems = _manifest(_sleep(time_step=bad))
    assert [(p.severity, p.check) for p in problems] == [("error", "bad_time_step")]
    assert "[modalities.sleep]" in problems[0].message
    assert "time_step must be a number and a unit, e.g. '10 min' or '30 s'" in problems[0].fix
    assert manifest.modalities["sleep"].time_step is None


@pytest.mark.parametrize(
    ("label", "said"),
    [
        (3, "is not text"),
        (["Sleep"], "is not text"),
        ("", "is empty"),
        ("   ", "is empty"),
        ("two\nlines", "line break"),
        ("tab\there", "control character"),
        ("x" * 61, "61 characters"),
    ],
)
def test_a_bad_label_is_a_named_error(label, said):
    manifest, problems = _manifest(_sleep(label=label))
    assert [(p.severity, p.check) for p in problems] == [("error", "bad_label")]
    assert said in problems[0].message and "at most 60 characters" in problems[0].fix
    assert manifest.modalities["sleep"].label is None


def test_bad_channel_and_covariate_entries_are_named():
    _, problems = _manifest(
        _sleep(
            channels={"hr": 5, "spo2": {"label": "SpO2", "unit": "% saturation, by a finger clip", "x": 1}}
        ),
        {"path": "c.csv", "columns": "age"},
    )
    lines = [(p.severity, p.check, p.message) for p in problems]
    assert (
        "error",
        "bad_label",
        "[modalities.sleep] channels.hr must be a label or a table with label and unit.",
    ) in lines
    assert any(c == "unknown_key" and "'x' in channels.spo2" in m for _, c, m in lines)
    assert any(
        c == "bad_label" and m.startswith("[modalities.sleep] channels.spo2.unit has 30") for _, c, m in lines
    )
    assert any(
        c == "bad_label" and m.startswith("[covariates] 'columns' must be a table") for _, c, m in lines
    )


def test_display_keys_of_another_kind_are_unknown_keys():
    _, problems = _manifest({"eye": {"kind": "image", "path": "e", "time_step": "1 s", "channels": {}}})
    assert [p.check for p in problems] == ["unknown_key", "unknown_key"]
    _, problems = _manifest({"labs": {"kind": "tabular", "path": "l.csv", "channels": {"a": "A"}}})
    assert [p.check for p in problems] == ["unknown_key"] and "columns" in problems[0].fix


def test_labels_fall_back_to_readable_names_and_keep_undeclared_columns(tmp_path):
    (tmp_path / "cohort.toml").write_text(MANIFEST, encoding="utf-8")
    labels = labels_of(tmp_path)
    assert labels.modality("sleep") == "Home sleep test"
    assert labels.modality("labs") == "Labs" and labels.modality("fundus_left") == "Left eye photograph"
    assert labels.modality("not_declared") == "Not declared" == readable_name("not_declared")
    assert labels.feature("sleep", "heart_rate") == "Heart rate (bpm)"
    assert labels.feature("sleep", "heart_rate", unit=False) == "Heart rate"
    assert labels.feature("sleep", "snoring") == "snoring"
    assert labels.feature("labs", "glucose") == "glucose (mmol/L)"
    assert labels.covariate("systolic_bp") == "Systolic blood pressure (mmHg)"
    assert labels.covariate("age") == "age"
    assert labels_of(tmp_path / "missing") == Labels()  # no manifest: every name stays readable
    assert Labels().modality("fundus_left") == "Fundus left"


def test_labels_that_collide_are_told_apart_by_the_raw_name():
    manifest, _ = _manifest(
        {
            "left": {"kind": "image", "path": "l", "label": "Eye"},
            "right": {"kind": "image", "path": "r", "label": "eye"},
            "sleep": {"kind": "timeseries", "path": "s.npz", "channels": {"a": "Rate", "b": "Rate"}},
        },
        {"path": "c.csv", "columns": {"sbp": "Pressure", "dbp": "Pressure"}},
    )
    labels = Labels.of(manifest)
    assert [labels.modality(m) for m in ("left", "right")] == ["Eye (left)", "eye (right)"]
    assert labels.features_of("sleep", ["a", "b", "c"]) == ["Rate (a)", "Rate (b)", "c"]
    assert labels.covariates_of(["sbp", "dbp", "age"]) == {
        "sbp": "Pressure (sbp)",
        "dbp": "Pressure (dbp)",
        "age": "age",
    }


def test_driver_text_is_relabelled_by_kind(tmp_path):
    (tmp_path / "cohort.toml").write_text(MANIFEST, encoding="utf-8")
    labels = labels_of(tmp_path)
    assert (
        labels.driver("sleep: heart_rate (mean over time)") == "Home sleep test: Heart rate (mean over time)"
    )
    assert labels.driver("sleep: snoring (mean over time)") == "Home sleep test: snoring (mean over time)"
    assert labels.driver("labs: glucose") == "Labs: glucose"
    assert labels.driver("fundus_left: mean red") == "Left eye photograph: mean red"
    assert labels.driver("other: x") == "other: x" and labels.driver("no colon") == "no colon"


@pytest.mark.parametrize(
    ("step", "points", "title", "last"),
    [
        (None, 5, "Time point", 4.0),
        (TimeStep(10, "min"), 144, "Time (h)", 143 * 10 / 60),  # the demo: three 8-hour nights
        (TimeStep(10, "min"), 12, "Time (min)", 110.0),  # 110 min: not yet more than two hours
        (TimeStep(30, "s"), 3, "Time (s)", 60.0),
        (TimeStep(1, "s"), 600, "Time (min)", 599 / 60),
        (TimeStep(0.5, "h"), 4, "Time (h)", 1.5),
    ],
)
def test_time_axis_picks_a_readable_unit(step, points, title, last):
    axis = time_axis(step, points)
    assert axis.title == title and len(axis.values) == points
    assert axis.values[0] == 0.0 and np.isclose(axis.values[-1], last)


def test_validate_warns_about_labels_for_columns_that_do_not_exist(tmp_path):
    root = make_cohort(tmp_path, image=None, covariates="csv", n_channels=2)

    def add_labels(manifest):
        manifest["modalities"]["sleep"]["channels"] = {"c0": {"label": "First"}, "c9": {"label": "Ninth"}}
        manifest["modalities"]["labs"]["columns"] = {"f1": {"unit": "mg"}}
        manifest["covariates"]["columns"] = {"agee": {"label": "Age", "unit": "years"}}

    edit_manifest(root, add_labels)
    report = validate_cohort(root)
    assert report.ok, report.format()  # a label for nothing is a warning, never fatal
    unknown = [p for p in report.problems if p.check == "unknown_label"]
    assert [p.severity for p in unknown] == ["warning", "warning"]
    assert "[modalities.sleep.channels] labels 'c9', which sleep.npz does not have" in unknown[0].message
    assert "c0, c1" in unknown[0].fix
    assert (
        "[covariates.columns] labels 'agee'" in unknown[1].message
        and "Did you mean 'age'?" in unknown[1].message
    )


def test_written_labels_read_back_one_inline_table_a_name(tmp_path):
    """manifest_text writes [..channels] and [covariates.columns] as a person would, with any name quoted."""
    from crl.data.manifest import manifest_text

    odd = 'c"h [1] 眼'
    text = manifest_text(
        "x",
        "sid",
        {
            "Auge links": {"kind": "image", "path": "e.npz", "label": 'Left "eye"'},
            "sleep": {
                "kind": "timeseries",
                "path": "s.npz",
                "time_step": "30 s",
                "channels": {
                    "heart_rate": {"label": "Heart rate", "unit": "bpm"},
                    odd: {"label": "Odd\\one"},
                },
            },
        },
        "c.csv",
        {"systolic_bp": {"label": "Systolic blood pressure", "unit": "mmHg"}},
    )
    assert '[modalities.sleep.channels]\nheart_rate = { label = "Heart rate", unit = "bpm" }\n' in text
    assert (
        '[covariates.columns]\nsystolic_bp = { label = "Systolic blood pressure", unit = "mmHg" }\n' in text
    )
    (tmp_path / "cohort.toml").write_text(text, encoding="utf-8")
    manifest, problems = read_manifest(tmp_path)
    assert problems == []
    assert manifest.modalities["Auge links"].label == 'Left "eye"'
    assert manifest.modalities["sleep"].feature_labels[odd] == Label("Odd\\one")
    assert manifest.modalities["sleep"].time_step == TimeStep(30.0, "s")
    assert manifest.covariates.labels["systolic_bp"].unit == "mmHg"
