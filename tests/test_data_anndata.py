"""AnnData (.h5ad) and MuData (.h5mu) sources: a cohort of them validates, loads aligned by obs name and trains;
each way such a file can be wrong gets its own named problem with a fix, never a traceback."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("h5py")  # the omics extra; CI installs it (make install-test)

from cohort_factory import edit_manifest, subject_ids  # noqa: E402
from omics_factory import (  # noqa: E402
    GENES,
    PROTEINS,
    RNA_GENES,
    make_omics_cohort,
    omics_values,
    write_h5ad,
    write_h5mu,
)
from run_factory import tiny_training  # noqa: E402

from crl.cli import main  # noqa: E402
from crl.data.load import load_cohort  # noqa: E402
from crl.data.loaders import anndata as anndata_loader  # noqa: E402
from crl.data.overlap import source_subject_ids  # noqa: E402
from crl.data.summary import source_table_preview  # noqa: E402
from crl.data.validate import validate_cohort  # noqa: E402
from crl.errors import CohortError  # noqa: E402

N = 40
FIXTURES = Path(__file__).parent / "omics_fixtures"


def _problems(root, check):
    return [p for p in validate_cohort(root).problems if p.check == check]


def test_cli_validate_passes_on_an_h5ad_and_h5mu_cohort(tmp_path, capsys):
    root = make_omics_cohort(tmp_path, n=N)
    assert main(["validate", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"cohort 'omics-cohort': {N} subjects, 3 modalities, 0 errors, 0 warnings" in out


def test_load_cohort_aligns_every_modality_by_obs_name(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    cohort = load_cohort(root)
    ids = subject_ids(N)
    assert cohort.subject_ids.tolist() == ids  # sorted; the files list them reversed and shuffled
    values = omics_values(N)
    blood, rna, prot = (cohort.modalities[m] for m in ("blood", "rna", "prot"))
    assert (blood.kind, blood.data.shape, blood.feature_names) == ("tabular", (N, len(GENES)), GENES)
    assert blood.data.dtype == np.float32
    np.testing.assert_allclose(blood.data, values["log1p"], rtol=1e-6)  # the layer, not the sparse counts
    assert (rna.data.shape, rna.feature_names) == ((N, len(RNA_GENES)), RNA_GENES)
    np.testing.assert_allclose(rna.data, values["rna"])
    assert (prot.data.shape, prot.feature_names) == ((N, len(PROTEINS)), PROTEINS)
    np.testing.assert_allclose(prot.data, values["prot"])
    assert cohort.covariates is not None and cohort.covariates.index.tolist() == ids
    assert cohort.covariates["sex"].tolist()[:2] == ["F", "M"]


def test_without_a_layer_x_is_read_densified_from_its_sparse_form(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    edit_manifest(root, lambda m: m["modalities"]["blood"].pop("layer"))
    blood = load_cohort(root).modalities["blood"]
    np.testing.assert_array_equal(blood.data, omics_values(N)["counts"])
    assert (blood.data == 0).mean() > 0.2  # the zeros the sparse matrix left out are back


def test_the_cohort_page_helpers_read_the_omics_sources(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    ids = source_subject_ids(root)
    assert list(ids) == ["blood", "rna", "prot"]
    assert all(found.tolist() == subject_ids(N) for found in ids.values())
    head, summary = source_table_preview(root, "prot", rows=3)
    assert head.columns.tolist() == ["subject_id", *PROTEINS] and len(head) == 3
    assert summary["column"].tolist() == PROTEINS and (summary["missing"] == 0).all()


def test_crl_train_runs_end_to_end_on_the_omics_cohort(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    run = tmp_path / "run"
    args = ["train", str(root), "--out", str(run), "--device", "cpu", "--seed", "0"]
    assert main([*args, *tiny_training("train.epochs=2")]) == 0
    latents = pd.read_csv(run / "latents.csv", dtype={"subject_id": str})
    assert sorted(latents["subject_id"]) == subject_ids(N)
    assert {c.split(".")[0] for c in latents.columns if c != "subject_id"} == {"blood", "rna", "prot"}
    assert json.loads((run / "config.json").read_text())["config"]["modalities"].keys() >= {"blood", "prot"}


# --- every way an omics source can be wrong ----------------------------------------------------------------


def _only_blood(root: Path, **keys) -> None:
    """Keep the .h5ad modality and one other (two are needed), with `keys` set on the .h5ad's table."""

    def change(manifest):
        manifest["modalities"].pop("rna")
        manifest["modalities"]["blood"].pop("layer")
        manifest["modalities"]["blood"].update(keys)

    edit_manifest(root, change)


def _rewrite_blood(root: Path, X, obs=None, var=None, layers=None) -> None:
    write_h5ad(root / "blood.h5ad", X, obs or subject_ids(N), var or GENES, layers=layers)
    _only_blood(root)


def test_missing_layer_names_the_layers_the_file_has(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    _only_blood(root, layer="counts")
    (problem,) = _problems(root, "missing_layer")
    assert problem.severity == "error" and problem.file == "blood.h5ad"
    assert "layer 'counts' not found; this file has layers: log1p." in problem.message
    assert "leave layer out to read X" in problem.fix


def test_missing_x_without_a_layer_points_at_the_layers(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    values = omics_values(N)["counts"]
    _rewrite_blood(root, None, layers={"raw": values, "log1p": np.log1p(values)})
    (problem,) = _problems(root, "missing_layer")
    assert "has no X matrix" in problem.message and "this file has layers: log1p, raw." in problem.message
    assert 'layer = "..."' in problem.fix


def test_missing_mudata_modality_names_the_modalities_the_file_has(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    edit_manifest(root, lambda m: m["modalities"]["prot"].update(modality="protein"))
    (problem,) = _problems(root, "missing_modality")
    assert problem.file == "cite.h5mu"
    assert "modality 'protein' not found; this file has modalities: rna, prot." in problem.message
    assert "case-sensitive" in problem.fix


def test_a_mudata_file_of_several_modalities_needs_one_named(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    edit_manifest(root, lambda m: m["modalities"]["prot"].pop("modality"))
    (problem,) = _problems(root, "missing_modality")
    assert "holding 2 modalities (rna, prot)" in problem.message and 'modality = "rna"' in problem.fix


def test_a_mudata_file_of_one_modality_needs_no_name(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    values = omics_values(N)["prot"]
    write_h5mu(root / "prot.h5mu", {"adt": {"X": values, "obs": subject_ids(N), "var": PROTEINS}})

    def change(manifest):
        manifest["modalities"]["prot"]["path"] = "prot.h5mu"
        del manifest["modalities"]["prot"]["modality"]

    edit_manifest(root, change)
    np.testing.assert_allclose(load_cohort(root).modalities["prot"].data, values)


def test_non_numeric_values_are_reported_per_feature_as_in_a_table(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    values = omics_values(N)["counts"].astype(str).astype(object)
    values[3, 1] = "high"
    values[5, 1] = "n/a"
    _rewrite_blood(root, values)
    (problem,) = _problems(root, "non_numeric")
    assert problem.severity == "error" and problem.column == "CD19"
    assert problem.message == "is not numeric: 2 values are not numbers, e.g. 'high', 'n/a'."
    assert "encode it as numbers" in problem.fix


def test_missing_values_go_through_the_nan_policy_as_in_a_table(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    values = omics_values(N)["counts"]
    values[[2, 7], 0] = np.nan
    _rewrite_blood(root, values)
    (problem,) = _problems(root, "non_finite")
    assert problem.severity == "error" and problem.column == "CD3E"
    assert problem.message.startswith(
        "2 missing or infinite values in 1 column, 2 subjects affected: CD3E (2 NaN)"
    )
    cohort = load_cohort(root, nan_policy="drop")
    assert len(cohort.subject_ids) == N - 2 and cohort.excluded[subject_ids(N)[2]].startswith(
        "missing or inf"
    )


def test_duplicate_obs_names_are_duplicate_subject_ids(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    ids = subject_ids(N)
    ids[5] = ids[4]
    _rewrite_blood(root, omics_values(N)["counts"], obs=ids)
    (problem,) = _problems(root, "duplicate_ids")
    assert problem.file == "blood.h5ad"
    assert problem.message == f"1 subject ID appears more than once: {ids[4]} (x2)."


def test_duplicate_var_names_are_duplicate_columns(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    _rewrite_blood(root, omics_values(N)["counts"], var=["CD3E", "CD19", "CD3E", "NKG7", "LYZ"])
    (problem,) = _problems(root, "duplicate_columns")
    assert "CD3E (x2)" in problem.message and "var_names_make_unique" in problem.fix


def test_empty_obs_names_are_missing_ids(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    ids = subject_ids(N)
    ids[9] = " "
    _rewrite_blood(root, omics_values(N)["counts"], obs=ids)
    (problem,) = _problems(root, "missing_ids")
    assert "1 observation has an empty name (obs rows 9)" in problem.message


def test_a_file_that_is_not_hdf5_is_named_as_such(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    (root / "blood.h5ad").write_text("subject_id,CD3E\ns000,1\n")
    (problem,) = _problems(root, "unreadable_file")
    assert problem.file == "blood.h5ad" and "is not an HDF5 file" in problem.message
    assert "write_h5ad" in problem.fix


def test_an_hdf5_file_that_is_not_anndata_is_unsupported(tmp_path):
    import h5py

    root = make_omics_cohort(tmp_path, n=N)
    with h5py.File(root / "blood.h5ad", "w") as file:
        file["values"] = np.zeros((N, 3))
    (problem,) = _problems(root, "unsupported_file")
    assert "not an AnnData file: it has no 'obs' and 'var'" in problem.message


def test_a_matrix_too_large_to_densify_is_refused_before_reading(tmp_path, monkeypatch):
    root = make_omics_cohort(tmp_path, n=N)
    monkeypatch.setattr(anndata_loader, "MAX_DENSE_BYTES", N * len(GENES) * 4 - 1)
    (problem,) = _problems(root, "too_large")
    assert problem.file == "blood.h5ad"
    assert f"layer 'log1p' is {N} x {len(GENES)} values" in problem.message
    assert "highly_variable_genes" in problem.fix


def test_without_the_extra_the_problem_says_which_to_install(tmp_path, monkeypatch, capsys):
    root = make_omics_cohort(tmp_path, n=N)
    monkeypatch.setitem(sys.modules, "h5py", None)  # `import h5py` now raises ImportError
    problems = _problems(root, "missing_extra")
    assert [p.file for p in problems] == ["blood.h5ad", "cite.h5mu", "cite.h5mu"]
    assert "needs the optional package h5py" in problems[0].message
    assert "pip install 'crl[omics]'" in problems[0].fix
    assert main(["validate", str(root)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "install the omics extra: pip install 'crl[omics]'" in captured.out + captured.err
    with pytest.raises(CohortError, match=r"crl\[omics\]"):
        source_table_preview(root, "blood")


def test_omics_keys_are_checked_in_the_manifest(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    edit_manifest(root, lambda m: m["modalities"]["blood"].update(layer=3))
    (problem,) = [p for p in _problems(root, "bad_value") if "layer" in p.message]
    assert problem.file == "cohort.toml" and "'layer' must be a name" in problem.message
    (tmp_path / "csv").mkdir()
    root = make_omics_cohort(tmp_path / "csv", n=N)
    pd.DataFrame({"subject_id": subject_ids(N), "x": np.arange(N), "y": np.arange(N) % 7}).to_csv(
        root / "labs.csv", index=False
    )
    edit_manifest(root, lambda m: m["modalities"]["rna"].update(path="labs.csv"))
    report = validate_cohort(root)
    assert report.ok
    (warning,) = [p for p in report.warnings if p.check == "unknown_key"]
    assert "'modality' applies only to AnnData (.h5ad) and MuData (.h5mu) files" in warning.message


def test_a_modality_named_for_an_anndata_file_is_ignored_with_a_warning(tmp_path):
    root = make_omics_cohort(tmp_path, n=N)
    edit_manifest(root, lambda m: m["modalities"]["blood"].update(modality="rna"))
    report = validate_cohort(root)
    assert report.ok
    (warning,) = [p for p in report.warnings if p.check == "unknown_key"]
    assert (
        warning.file == "blood.h5ad"
        and "modality = 'rna' ignored: this is an AnnData file" in warning.message
    )


# --- files the real anndata and mudata wrote ---------------------------------------------------------------


def _fixture(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    with gzip.open(FIXTURES / f"{name}.gz", "rb") as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out)
    return target


def test_files_written_by_anndata_and_mudata_are_read(tmp_path):
    """tests/omics_fixtures/make_fixtures.py wrote these with anndata 0.12 and mudata 0.3: a sparse X, a named
    obs index and a categorical obs column in the .h5ad; an .h5mu whose prot modality lists subjects reversed."""
    counts = np.array([[0, 1, 0], [2, 0, 3], [0, 0, 4], [5, 6, 0], [0, 7, 0], [8, 0, 9]], dtype=np.float32)
    ids = [f"p{i}" for i in range(6)]
    blood = anndata_loader.load_anndata(_fixture(tmp_path, "blood.h5ad"))
    assert (blood.subject_ids.tolist(), blood.feature_names) == (ids, ["CD3E", "CD19", "MS4A1"])
    np.testing.assert_array_equal(blood.data, counts)
    layer = anndata_loader.load_anndata(tmp_path / "blood.h5ad", layer="log1p")
    np.testing.assert_allclose(layer.data, np.log1p(counts), rtol=1e-6)
    cite = _fixture(tmp_path, "cite.h5mu")
    rna = anndata_loader.load_anndata(cite, modality="rna")
    np.testing.assert_array_equal(rna.data, counts)
    prot = anndata_loader.load_anndata(cite, modality="prot")
    assert prot.subject_ids.tolist() == ids[::-1] and prot.feature_names == ["CD3", "CD19_prot"]
    np.testing.assert_array_equal(prot.data, np.arange(12, dtype=np.float32).reshape(6, 2))
    assert anndata_loader.anndata_obs_names(cite, "prot").tolist() == ids[::-1]


def test_objects_built_with_anndata_and_mudata_make_a_cohort(tmp_path):
    """Where anndata and mudata are installed (not in CI: their releases pin pandas below 3), objects built with
    them in the test load as the same arrays."""
    ad = pytest.importorskip("anndata")
    md = pytest.importorskip("mudata")
    import scipy.sparse

    root = make_omics_cohort(tmp_path, n=N)
    values, ids = omics_values(N), subject_ids(N)
    blood = ad.AnnData(X=scipy.sparse.csr_matrix(values["counts"]))
    blood.obs_names, blood.var_names = ids, GENES
    blood.layers["log1p"] = values["log1p"]
    blood.write_h5ad(root / "blood.h5ad")
    rna = ad.AnnData(X=values["rna"])
    rna.obs_names, rna.var_names = ids, RNA_GENES
    prot = ad.AnnData(X=values["prot"][::-1])
    prot.obs_names, prot.var_names = ids[::-1], PROTEINS
    md.MuData({"rna": rna, "prot": prot}).write(root / "cite.h5mu")
    cohort = load_cohort(root)
    np.testing.assert_allclose(cohort.modalities["blood"].data, values["log1p"], rtol=1e-6)
    np.testing.assert_allclose(cohort.modalities["rna"].data, values["rna"])
    np.testing.assert_allclose(cohort.modalities["prot"].data, values["prot"])
