"""Subjects lacking a modality (issue 24): loaded with presence masks under "infer", trained on with the missing
latents inferred through the imputers, marked in latents.csv; "drop" and complete cohorts behave as before."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from cohort_factory import IMAGE, TABULAR, TIMESERIES, edit_manifest, make_cohort
from run_factory import tiny_training
from test_train import _cohort as _train_cohort
from test_train import _config as _train_config

from crl.cli.main import main
from crl.core.model import PRESENT, build_model
from crl.core.orientation import reflect_latents
from crl.data.cohort import Cohort
from crl.data.load import load_cohort
from crl.data.missing import training_cohort
from crl.data.synthetic import write_preset
from crl.data.validate import validate_cohort
from crl.engine.fit import fit
from crl.engine.tensors import CohortTensors
from crl.errors import ConfigError
from crl.runs.checkpoint import encode_with_run
from crl.runs.run import Run

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------- loading
def _gappy(tmp_path):
    """make_cohort's three modalities with s001, s002 lacking images, s005 lacking labs, s007 NaN in labs (with
    nan_policy drop) and s009 in no usable modality (NaN labs, no image, no sleep)."""
    root = make_cohort(tmp_path, covariates="csv")
    for subject in ("s001", "s002", "s009"):
        (root / IMAGE / f"{subject}.png").unlink()
    labs = pd.read_csv(root / f"{TABULAR}.csv", dtype={"subject_id": str})
    labs.loc[labs.subject_id.isin(["s007", "s009"]), "f1"] = np.nan
    labs[labs.subject_id != "s005"].to_csv(root / f"{TABULAR}.csv", index=False)
    with np.load(root / f"{TIMESERIES}.npz") as archive:
        keep = archive["ids"] != "s009"
        np.savez(
            root / f"{TIMESERIES}.npz",
            ids=archive["ids"][keep],
            values=archive["values"][keep],
            channels=archive["channels"],
        )

    def drop_nan(manifest):
        manifest["modalities"][TABULAR]["nan_policy"] = "drop"

    return edit_manifest(root, drop_nan)


def test_infer_keeps_subjects_lacking_a_modality_with_presence_masks(tmp_path):
    root = _gappy(tmp_path)
    cohort = load_cohort(root, missing_policy="infer")
    assert len(cohort) == 39 and "s009" not in cohort.subject_ids
    ids = list(cohort.subject_ids)
    retina, labs = cohort.presence(IMAGE), cohort.presence(TABULAR)
    assert [ids[i] for i in np.flatnonzero(~retina)] == ["s001", "s002"]
    assert [ids[i] for i in np.flatnonzero(~labs)] == ["s005", "s007"]
    assert cohort.presence(TIMESERIES).all() and TIMESERIES not in cohort.present
    assert cohort.incomplete_modalities() == [TABULAR, IMAGE]
    assert int(cohort.complete.sum()) == 35
    lacking = dict(zip(ids, cohort.lacking(), strict=True))
    assert lacking["s001"] == IMAGE and lacking["s005"] == TABULAR and lacking["s000"] == ""
    # Every array stays finite (the filler), rows keep the cohort's length, covariates follow the subjects.
    assert np.isfinite(cohort.modalities[TABULAR].data).all()
    assert all(len(m.data) == 39 for m in cohort.modalities.values())
    assert list(cohort.covariates.index) == ids
    # The subjects that "drop" leaves out, and why; only s009 (no usable modality) is excluded here.
    assert cohort.lacks == {
        "s001": f"missing from {IMAGE}",
        "s002": f"missing from {IMAGE}",
        "s005": f"missing from {TABULAR}",
        "s007": f"missing or infinite values in {TABULAR}",
        "s009": f"missing from {TIMESERIES}, {IMAGE}",
    }
    assert set(cohort.excluded) == {"s009"}
    assert cohort.excluded["s009"].startswith("no usable modality: missing from ")
    assert cohort.schema()[IMAGE]["incomplete"] is True and "incomplete" not in cohort.schema()[TIMESERIES]


def test_validation_warns_instead_of_excluding_under_infer(tmp_path):
    root = _gappy(tmp_path)
    report = validate_cohort(root, missing_policy="infer")
    assert report.ok and report.n_subjects == 39 and set(report.excluded) == {"s009"}
    lack = {p.file: p.message for p in report.warnings if p.check == "missing_subjects"}
    assert lack[IMAGE] == (
        f"2 subjects lack '{IMAGE}': their latents for it are inferred from their other modalities: s001, s002."
    )
    assert lack[f"{TABULAR}.csv"].startswith(
        f"1 subject lacks '{TABULAR}': their latents for it are inferred"
    )
    nan = next(p for p in report.warnings if p.check == "non_finite")
    assert "keep their other modalities" in nan.message and "s007, s009" in nan.message
    # The default stays "drop": the same folder reports exclusions, as before.
    dropped = validate_cohort(root)
    assert dropped.n_subjects == 35 and {"s001", "s005", "s007", "s009"} <= set(dropped.excluded)
    with pytest.raises(ConfigError, match="missing_policy='keep'"):
        validate_cohort(root, missing_policy="keep")


def test_drop_incomplete_reproduces_loading_with_drop(tmp_path):
    root = _gappy(tmp_path)
    inferred = load_cohort(root, missing_policy="infer").drop_incomplete()
    dropped = load_cohort(root)
    assert list(inferred.subject_ids) == list(dropped.subject_ids)
    assert inferred.excluded == dropped.excluded and not inferred.present
    for name, m in dropped.modalities.items():
        np.testing.assert_array_equal(inferred.modalities[name].data, m.data)
    pd.testing.assert_frame_equal(inferred.covariates, dropped.covariates)


def test_normaliser_statistics_come_from_present_rows_only(tmp_path):
    cohort = load_cohort(_gappy(tmp_path), missing_policy="infer")
    labs = cohort.modalities[TABULAR].data
    labs[~cohort.presence(TABULAR)] = 1e6  # a filler far off would move the centre if it were counted
    train = np.arange(len(cohort))
    centre = cohort.fit_normaliser(train).centre[TABULAR]
    np.testing.assert_allclose(centre, labs[cohort.presence(TABULAR)].mean(0), rtol=1e-5)


# ---------------------------------------------------------------------------------------------- the model
def _tiny(n: int = 120, seed: int = 0, lacking: dict[str, list[int]] | None = None) -> Cohort:
    """test_train's two-modality cohort, with the listed rows of each modality marked as lacking."""
    present = {}
    for name, rows in (lacking or {}).items():
        present[name] = np.ones(n, dtype=bool)
        present[name][rows] = False
    return dataclasses.replace(_train_cohort(n, seed), present=present)


def _config(cohort: Cohort, *extra: str):
    return _train_config(cohort, "train.batch_size=40", *extra)  # two steps per epoch on 96 subjects


def test_a_complete_cohort_trains_bit_identically_with_either_setting():
    cohort = _tiny()
    results = []
    for policy in ("infer", "drop"):
        config = _config(cohort, f"train.missing_modalities={policy}")
        used = training_cohort(cohort, config.train.missing_modalities)
        assert used is cohort
        model = build_model(config, used.schema())
        assert len(model.imputers) == 0
        fit(model, used, config)
        results.append(model.state_dict())
    assert results[0].keys() == results[1].keys()
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])
    batch = CohortTensors(
        cohort, cohort.fit_normaliser(np.arange(120)), torch.device("cpu"), ["a", "b"]
    ).batch(torch.arange(10))
    assert PRESENT not in batch


def _model_and_batch(lacking: dict[str, list[int]]):
    cohort = _tiny(lacking=lacking)
    config = _config(cohort)
    model = build_model(config, cohort.schema())
    tensors = CohortTensors(
        cohort, cohort.fit_normaliser(np.arange(len(cohort))), torch.device("cpu"), ["a", "b"]
    )
    return model, tensors


def _imputer_calls(model) -> list[int]:
    calls = [0]
    for imputer in model.imputers.values():
        imputer.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_the_imputer_path_is_skipped_for_a_batch_nobody_in_lacks_a_modality():
    model, tensors = _model_and_batch({"b": [3, 4]})
    assert list(model.imputers) == ["b"]
    calls = _imputer_calls(model)
    complete = tensors.batch(torch.arange(5, 25))
    assert complete[PRESENT].all()
    without = {k: v for k, v in complete.items() if k != PRESENT}
    first = model.loss(complete, generator=torch.Generator().manual_seed(0)).total
    second = model.loss(without, generator=torch.Generator().manual_seed(0)).total
    assert calls[0] == 0 and torch.equal(first, second)
    model.loss(tensors.batch(torch.arange(0, 20)), generator=torch.Generator().manual_seed(0))
    assert calls[0] == 1
    model.always_impute = True  # under DistributedDataParallel every shard runs it
    model.loss(complete, generator=torch.Generator().manual_seed(0))
    assert calls[0] == 2


def test_a_missing_modality_neither_reconstructs_nor_reaches_the_encoder():
    model, tensors = _model_and_batch({"b": [3, 4]})
    batch = tensors.batch(torch.arange(0, 20))
    changed = {k: v.clone() for k, v in batch.items()}
    changed["b"][3:5] = 50.0  # another filler for the subjects lacking b
    losses, grads = [], []
    for candidate in (batch, changed):
        model.zero_grad()
        record = model.loss(candidate, generator=torch.Generator().manual_seed(1))
        record.total.backward()
        losses.append(record.total.detach())
        grads.append([p.grad.clone() for p in model.encoders["b"].parameters()])
    assert torch.equal(losses[0], losses[1])
    assert all(torch.equal(x, y) for x, y in zip(*grads, strict=True))
    z_mean, _, eta_mean, eta_logvar = model.posterior(batch)
    assert torch.equal(eta_mean[3:5, 1], torch.zeros(2)) and torch.equal(eta_logvar[3:5, 1], torch.zeros(2))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.imputers["b"].parameters())


@pytest.mark.parametrize("unmixing", [None, torch.tensor([[1.3]])], ids=["as encoded", "unmixed"])
def test_reflecting_a_model_reflects_the_inferred_latents_too(unmixing):
    model, tensors = _model_and_batch({"a": [0, 1], "b": [3, 4]})
    batch = tensors.batch(torch.arange(0, 12))
    with torch.no_grad():
        encoded = model.posterior(batch)[0]
        if unmixing is not None:  # the imputers' latents are unmixed as the encoders' are
            for name in model.names:
                model.unmixing.compose(name, unmixing)
        before = model.posterior(batch)[0]
        factor = 1.0 if unmixing is None else float(unmixing)
        torch.testing.assert_close(before, factor * encoded, rtol=1e-5, atol=1e-6)
        reflect_latents(model, [-1.0, -1.0])
        after = model.posterior(batch)[0]
    torch.testing.assert_close(after, -before, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------- crl train
@pytest.fixture(scope="module")
def gappy_case(tmp_path_factory):
    """paper case 1 with 100 subjects; 15 lack m1, 14 others lack m2, S00016 lacks both (so is in no source)."""
    root = write_preset("paper-case1", tmp_path_factory.mktemp("missing") / "case1", n=100)
    for name, rows in (("m1", range(0, 16)), ("m2", [*range(15, 30)])):
        table = pd.read_csv(root / f"{name}.csv", dtype={"subject_id": str})
        table.drop(index=list(rows)).to_csv(root / f"{name}.csv", index=False)
    return root


def _train(root, run, *settings: str) -> None:
    args = ["train", str(root), "--out", str(run), "--device", "cpu"]
    assert main([*args, *tiny_training("train.epochs=2", "train.batch_size=32", *settings)]) == 0


def test_crl_train_uses_every_subject_and_marks_the_inferred_latents(gappy_case, tmp_path):
    run = tmp_path / "run"
    _train(gappy_case, run)
    table = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}, keep_default_na=False)
    assert list(table.columns) == ["subject_id", "m1.z0", "m1.z1", "m2.z0", "m2.z1", "inferred"]
    assert len(table) == 99 and "S00016" not in set(table.subject_id)  # S00016 lacks both
    marks = dict(zip(table.subject_id, table.inferred, strict=True))
    assert marks["S00001"] == "m1" and marks["S00020"] == "m2" and marks["S00050"] == ""
    assert sum(v == "m1" for v in marks.values()) == 15 and sum(v == "m2" for v in marks.values()) == 14
    eta = pd.read_csv(run / "eta.csv", dtype={"subject_id": str}).set_index("subject_id")
    assert (eta.loc["S00001", "m1.eta0"] == 0.0) and eta.loc["S00050", "m1.eta0"] != 0.0

    # Readers ignore the column: numbers only, the latents' names, and which values were inferred.
    found = Run(run)
    latents = found.latents()
    assert list(latents.columns) == ["m1.z0", "m1.z1", "m2.z0", "m2.z1"] and latents.dtypes.eq(float).all()
    assert found.latent_names == list(latents.columns)
    assert found.inferred()["S00001"] == ["m1"] and found.inferred()["S00050"] == []
    assert (run / "evaluation.json").is_file()  # scored against the truth through Run.latents()
    assert main(["evaluate", str(run)]) == 0

    # The saved model infers the same values again (the canonical signs are baked into its imputers).
    cohort = load_cohort(gappy_case, missing_policy="infer")
    again = encode_with_run(run, cohort).set_index("subject_id")
    np.testing.assert_allclose(again.to_numpy(), latents.loc[again.index].to_numpy(), rtol=1e-4, atol=1e-5)


def test_crl_train_with_drop_reproduces_training_on_the_complete_subjects(gappy_case, tmp_path):
    _train(gappy_case, tmp_path / "drop", "train.missing_modalities=drop")
    table = pd.read_csv(tmp_path / "drop" / "latents.csv", dtype={"subject_id": str})
    assert "inferred" not in table.columns
    assert list(table.subject_id) == list(load_cohort(gappy_case).subject_ids)  # the 70 complete subjects
    assert len(table) == 70


def test_beta_vae_leaves_subjects_lacking_a_modality_out():
    cohort = _tiny(lacking={"b": [3, 4]})
    assert len(training_cohort(cohort, "infer", method="beta-vae")) == 118
    assert len(training_cohort(cohort, "infer", method="no-graph")) == 120


def test_restarts_keep_the_subjects_and_their_confidence_is_measured(gappy_case, tmp_path):
    run = tmp_path / "restarts"
    _train(gappy_case, run, "train.restarts=2")
    found = Run(run)
    assert (run / "latent_stability.csv").is_file() and (run / "edge_confidence.csv").is_file()
    restart = pd.read_csv(run / "restarts" / "1" / "latents.csv", dtype={"subject_id": str})
    assert list(restart.subject_id) == list(found.latents().index)  # the same 99 subjects


def test_the_cohort_page_says_who_is_trained_on():
    from crl.ui.cohort_preview import overlap_caption

    text = overlap_caption(70, 29)
    assert text.startswith("70 subjects have every modality (blue). 29 subjects lack at least one (grey)")
    assert "99 are trained on" in text and 'train.missing_modalities = "drop"' in text
    assert "1 subject lacks at least one (grey): training still uses it" in overlap_caption(5, 1)


def test_the_report_counts_the_subjects_trained_with_inferred_latents(gappy_case, tmp_path):
    run = tmp_path / "reported"
    _train(gappy_case, run)
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    text = out.read_text()
    assert "70 subjects present in every modality; 29 more lacking a modality were trained on" in text
    assert "were left out" not in text  # S00016, in no source at all, is not part of the cohort
