"""The breast-cancer cohort writer, on a fake table shaped like sksurv's (scikit-survival is an optional extra)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from crl.data.load import load_cohort
from crl.data.realdata import (
    CLINICAL,
    INSTALL_HINT,
    load_breast_cancer_frames,
    split_breast_cancer,
    write_breast_cancer,
    write_breast_cancer_frames,
)
from crl.data.validate import validate_cohort
from crl.errors import CrlError

PROBES = ["X200726_at", "X200965_s_at", "X201068_s_at", "X201091_s_at", "X201288_at", "X221928_at"]


def fake_breast_cancer(n: int = 40, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Columns, dtypes and category spellings as `sksurv.datasets.load_breast_cancer()` returns them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(8.0, 1.5, (n, len(PROBES))), columns=PROBES)
    frame["age"] = rng.integers(28, 70, n).astype(float)
    frame["er"] = pd.Categorical(rng.choice(["negative", "positive"], n), categories=["negative", "positive"])
    grades = rng.choice(["intermediate", "poorly differentiated", "well differentiated"], n).astype(object)
    grades[[3, 17]] = "unkown"  # sic: sksurv's spelling for the two patients without a grade
    frame["grade"] = pd.Categorical(grades)
    frame["size"] = np.round(rng.uniform(0.5, 5.0, n), 1)
    outcome = np.empty(n, dtype=[("e.tdm", "?"), ("t.tdm", "<f8")])
    outcome["e.tdm"] = rng.random(n) < 0.3
    outcome["t.tdm"] = rng.uniform(100.0, 8000.0, n)
    return frame, outcome


def test_split_turns_categories_into_numbers_and_keeps_rows_aligned():
    frame, outcome = fake_breast_cancer()
    expression, clinical, table, notes = split_breast_cancer(frame, outcome)
    assert list(expression.columns) == PROBES and list(clinical.columns) == list(CLINICAL)
    assert list(expression.index) == list(clinical.index) == list(table.index)
    assert expression.index[0] == "patient_001" and expression.index[-1] == "patient_040"
    np.testing.assert_allclose(expression.to_numpy(), frame[PROBES].to_numpy())
    np.testing.assert_array_equal(clinical["er"], (frame["er"] == "positive").astype(float))
    expected_grade = (
        frame["grade"]
        .astype(str)
        .map({"well differentiated": 1.0, "intermediate": 2.0, "poorly differentiated": 3.0})
    )
    known = expected_grade.notna().to_numpy()
    np.testing.assert_array_equal(clinical["grade"].to_numpy()[known], expected_grade.to_numpy()[known])
    median = float(np.median(expected_grade.to_numpy()[known]))
    assert (clinical["grade"].to_numpy()[~known] == median).all()
    assert len(notes) == 1 and "patient_004" in notes[0] and "patient_018" in notes[0]
    np.testing.assert_array_equal(table["metastasis"], outcome["e.tdm"].astype(int))
    np.testing.assert_allclose(table["time_to_metastasis_days"], outcome["t.tdm"])


def test_written_cohort_validates_with_two_modalities_and_outcome_covariates(tmp_path):
    frame, outcome = fake_breast_cancer()
    root = write_breast_cancer_frames(frame, outcome, tmp_path / "bc")
    report = validate_cohort(root)
    assert report.ok, report.format()
    cohort = load_cohort(root)
    schema = cohort.schema()
    assert list(schema) == ["expression", "clinical"]
    assert schema["expression"]["features"] == PROBES and schema["clinical"]["features"] == list(CLINICAL)
    assert schema["expression"]["latents"] == 3 and schema["clinical"]["latents"] == 2
    assert list(cohort.covariates.columns) == ["time_to_metastasis_days", "metastasis"]
    assert len(cohort) == 40
    row = list(cohort.subject_ids).index("patient_007")
    assert cohort.modalities["clinical"].data[row, 0] == frame["age"].iloc[6]
    assert "median grade" in (root / "README.md").read_text()


def test_writer_refuses_a_non_empty_folder_and_a_table_without_clinical_columns(tmp_path):
    frame, outcome = fake_breast_cancer()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(CrlError, match="not an empty folder"):
        write_breast_cancer_frames(frame, outcome, tmp_path / "full")
    with pytest.raises(CrlError, match="grade"):
        write_breast_cancer_frames(frame.drop(columns=["grade"]), outcome, tmp_path / "new")
    with pytest.raises(CrlError, match="must match"):
        write_breast_cancer_frames(frame, outcome[:-1], tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_missing_scikit_survival_names_the_extra(tmp_path, monkeypatch):
    # None in sys.modules makes `import sksurv...` raise ImportError, as on a machine without the extra.
    monkeypatch.setitem(sys.modules, "sksurv", None)
    monkeypatch.setitem(sys.modules, "sksurv.datasets", None)
    with pytest.raises(CrlError) as caught:
        load_breast_cancer_frames()
    assert INSTALL_HINT in str(caught.value) and "scikit-survival" in str(caught.value)
    with pytest.raises(CrlError, match=r"crl\[realdata\]"):
        write_breast_cancer(tmp_path / "bc")
    assert not (tmp_path / "bc").exists()
