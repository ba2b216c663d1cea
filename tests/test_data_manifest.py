"""cohort.toml parsing: defaults, options, and problems (never exceptions) for bad manifests."""

from __future__ import annotations

import dataclasses

import pytest

from crl.data.manifest import DEFAULT_LATENTS, Manifest, Problem, manifest_text, parse_manifest, read_manifest


def _checks(problems: list[Problem]) -> list[str]:
    return [p.check for p in problems]


def test_full_manifest_parses_into_frozen_dataclasses(tmp_path):
    (tmp_path / "cohort.toml").write_text(
        """
name = "my-cohort"
id = "subject_id"

[modalities.labs]
kind = "tabular"
path = "labs.csv"

[modalities.sleep]
kind = "timeseries"
path = "sleep.parquet"
time = "hour"
latents = 3
length_policy = "pad"

[modalities.fundus_left]
kind = "image"
path = "fundus_left"
latents = 4

[covariates]
path = "clinical.csv"
"""
    )
    manifest, problems = read_manifest(tmp_path)
    assert problems == []
    assert isinstance(manifest, Manifest)
    assert manifest.name == "my-cohort" and manifest.id == "subject_id"
    assert list(manifest.modalities) == ["labs", "sleep", "fundus_left"]  # file order kept
    labs, sleep, fundus = manifest.modalities.values()
    assert (labs.kind, labs.path, labs.latents, labs.time) == ("tabular", "labs.csv", DEFAULT_LATENTS, "time")
    assert (sleep.kind, sleep.time, sleep.latents, sleep.options) == (
        "timeseries",
        "hour",
        3,
        {"length_policy": "pad"},
    )
    assert (fundus.kind, fundus.latents) == ("image", 4)
    assert manifest.covariates is not None and manifest.covariates.path == "clinical.csv"
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        labs.latents = 9  # type: ignore[misc]


def test_missing_file_and_bad_toml_are_problems(tmp_path):
    manifest, problems = read_manifest(tmp_path)
    assert manifest is None and _checks(problems) == ["no_manifest"]
    (tmp_path / "cohort.toml").write_text('name = "x"\nid = \n')
    manifest, problems = read_manifest(tmp_path)
    assert manifest is None and _checks(problems) == ["unreadable_manifest"]
    assert "line 2" in problems[0].message  # the TOML parser's position reaches the user


def test_unknown_keys_are_warnings_and_kept_as_options():
    manifest, problems = parse_manifest(
        {
            "name": "x",
            "id": "sid",
            "colour": "blue",
            "modalities": {"labs": {"kind": "tabular", "path": "a.csv", "latent": 3}},
        }
    )
    assert manifest is not None
    assert [(p.severity, p.check) for p in problems] == [
        ("warning", "unknown_key"),
        ("warning", "unknown_key"),
    ]
    assert "Did you mean 'latents'?" in problems[1].message
    assert manifest.modalities["labs"].options == {"latent": 3}
    assert manifest.modalities["labs"].latents == DEFAULT_LATENTS


def test_time_is_unknown_for_a_tabular_modality():
    _, problems = parse_manifest(
        {"name": "x", "id": "sid", "modalities": {"labs": {"kind": "tabular", "path": "a.csv", "time": "t"}}}
    )
    assert _checks(problems) == ["unknown_key"] and "'time'" in problems[0].message


def test_unknown_kind_leaves_the_modality_out_but_keeps_the_others():
    manifest, problems = parse_manifest(
        {
            "name": "x",
            "id": "sid",
            "modalities": {
                "eyes": {"kind": "imaging", "path": "eyes"},
                "labs": {"kind": "tabular", "path": "a.csv"},
            },
        }
    )
    assert manifest is not None and list(manifest.modalities) == ["labs"]
    assert _checks(problems) == ["unknown_kind"]
    assert "Did you mean 'image'?" in problems[0].message and "[modalities.eyes]" in problems[0].message


@pytest.mark.parametrize("latents", [0, -1, 2.5, "three", True])
def test_latents_must_be_a_positive_int(latents):
    manifest, problems = parse_manifest(
        {
            "name": "x",
            "id": "sid",
            "modalities": {"labs": {"kind": "tabular", "path": "a.csv", "latents": latents}},
        }
    )
    assert _checks(problems) == ["bad_latents"] and problems[0].severity == "error"
    assert manifest is not None  # still checked further, with the default
    assert manifest.modalities["labs"].latents == DEFAULT_LATENTS


def test_missing_keys_each_get_a_problem():
    manifest, problems = parse_manifest({"modalities": {"a": {"path": "a.csv"}, "b": {"kind": "image"}}})
    assert manifest is None
    messages = [p.message for p in problems]
    assert any("no 'name'" in m for m in messages)
    assert any("no 'id'" in m for m in messages)
    assert any("[modalities.a] has no 'kind'" in m for m in messages)
    assert any("[modalities.b] has no 'path'" in m for m in messages)


def test_problem_where_and_line():
    problem = Problem("error", "x", "is broken.", "mend it.", file="a.csv", column="age", subject="s1")
    assert problem.where == "a.csv, column 'age', subject 's1'"
    assert problem.line() == "error: a.csv, column 'age', subject 's1': is broken. Fix: mend it."
    assert Problem("warning", "x", "m").where == "cohort"
    assert problem.to_dict()["column"] == "age"


def test_written_manifest_reads_back_with_awkward_names(tmp_path):
    """Quotes, brackets and other scripts survive manifest_text (hand-written f-strings broke on quotes)."""
    odd = "Auge links 眼 2"
    (tmp_path / "cohort.toml").write_text(
        manifest_text(
            'my "cohort" [v2]', "subject id", {odd: {"kind": "image", "path": "x.npz", "latents": 3}}, "c.csv"
        ),
        encoding="utf-8",
    )
    manifest, problems = read_manifest(tmp_path)
    assert [p for p in problems if p.severity == "error"] == []
    assert manifest.name == 'my "cohort" [v2]' and manifest.id == "subject id"
    assert list(manifest.modalities) == [odd]
    assert manifest.modalities[odd].latents == 3 and manifest.covariates.path == "c.csv"
