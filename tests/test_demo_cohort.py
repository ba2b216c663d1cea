"""The demo cohort (`crl synth demo`): deterministic, identifiable, plausible, and usable by the loaders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from crl.cli import main
from crl.data.labels import labels_of
from crl.data.load import load_cohort
from crl.data.synthetic import generate, retina, sleep, write_preset
from crl.data.synthetic.demo import COVARIATE_EDGES, COVARIATES, LATENT_EDGES, LATENTS, DemoModel
from crl.data.truth import load_truth
from crl.data.validate import validate_cohort
from crl.graphs.identifiability import check_identifiability

N = 80


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    return write_preset("demo", tmp_path_factory.mktemp("demo") / "cohort", n=N, seed=3)


@pytest.fixture(scope="module")
def larger():
    return generate("demo", n=300, seed=11)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(written, tmp_path):
    again = write_preset("demo", tmp_path / "again", n=N, seed=3)
    assert _hashes(again) == _hashes(written)
    other = write_preset("demo", tmp_path / "other", n=N, seed=4)
    assert _hashes(other)["fundus_left.npz"] != _hashes(written)["fundus_left.npz"]
    assert _hashes(other)["clinical.csv"] != _hashes(written)["clinical.csv"]


def test_the_shipped_demo_declares_what_synth_writes(written):
    """assets/demo is not rebuilt for a manifest change: its cohort.toml must stay what `crl synth demo` writes
    (labels, units and the sleep test's 10-minute time step included)."""
    shipped = Path(__file__).resolve().parents[1] / "assets" / "demo" / "cohort" / "cohort.toml"
    assert shipped.read_text(encoding="utf-8") == (written / "cohort.toml").read_text(encoding="utf-8")
    labels = labels_of(written)
    assert (
        labels.modality("sleep") == "Home sleep test"
        and labels.modality("fundus_left") == "Left eye photograph"
    )
    assert labels.feature("sleep", "heart_rate") == "Heart rate (bpm)"
    assert labels.covariate("systolic_bp") == "Systolic blood pressure (mmHg)"
    assert labels.time_axis("sleep", sleep.STEPS).title == "Time (h)"  # three 8-hour nights: 0 to 24 h
    assert set(labels.features["sleep"]) == set(sleep.CHANNELS) and set(labels.covariates) == set(COVARIATES)


def test_true_graph_is_identifiable_one_by_one_and_written(written):
    model = DemoModel()
    report = check_identifiability(model.adjacency, model.blocks, model.names)
    assert report.identified, report.format()
    assert report.cross_links >= 3
    truth = load_truth(written)
    assert sorted(truth.edges) == sorted(LATENT_EDGES)
    assert truth.latent_names == model.names
    names = pd.read_csv(written / "truth" / "latent_names.csv")
    assert list(names["latent"]) == truth.latent_names and names["name"].str.len().min() > 3
    covariate_graph = pd.read_csv(written / "truth" / "covariate_graph.csv")
    assert list(map(tuple, covariate_graph.to_numpy())) == list(COVARIATE_EDGES)
    nodes = set(COVARIATES) | set(LATENTS)
    assert set(covariate_graph["source"]) | set(covariate_graph["target"]) <= nodes
    # the paper's links: age -> a fundus latent in each eye, a right-eye latent -> left-hand grip strength
    assert ("age", "fundus_left.z0") in COVARIATE_EDGES and ("age", "fundus_right.z0") in COVARIATE_EDGES
    assert ("fundus_right.z0", "grip_strength_left") in COVARIATE_EDGES


def test_covariates_are_plausible(larger):
    c = larger.covariates
    assert list(c.columns) == list(COVARIATES)
    ranges = {
        "age": (40, 70),
        "sex": (0, 1),
        "bmi": (16, 50),
        "grip_strength_left": (5, 80),
        "grip_strength_right": (5, 85),
        "hba1c": (4, 13),
        "systolic_bp": (85, 210),
        "diastolic_bp": (45, 125),
    }
    for column, (low, high) in ranges.items():
        assert c[column].between(low, high).all(), column
    assert 0.3 < c["sex"].mean() < 0.7
    assert (c["systolic_bp"] > c["diastolic_bp"] + 15).all()
    men, women = c[c["sex"] == 1], c[c["sex"] == 0]
    assert men["grip_strength_left"].median() > women["grip_strength_left"].median() + 8
    assert 23 < c["bmi"].median() < 29 and 5.0 < c["hba1c"].median() < 5.8
    assert spearmanr(c["age"], c["systolic_bp"])[0] > 0.15
    assert spearmanr(c["age"], c["grip_strength_left"])[0] < 0
    assert spearmanr(c["grip_strength_left"], c["grip_strength_right"])[0] > 0.8


def test_written_cohort_validates_loads_and_reports_missing_subjects(written, capsys):
    artefacts = pd.read_csv(written / "truth" / "artefacts.csv")
    missing = artefacts[artefacts["artefact"] == "missing_modality"]
    assert 1 <= len(missing) <= 3
    report = validate_cohort(written)
    assert report.ok, report.format()
    assert set(report.excluded) == set(missing["subject_id"])
    for subject, modality in zip(missing["subject_id"], missing["modality"], strict=True):
        assert report.excluded[subject] == f"missing from {modality}"
    assert {p.check for p in report.warnings} == {"missing_subjects"}

    cohort = load_cohort(written)
    assert len(cohort) == N - len(missing)
    assert cohort.modalities["sleep"].data.shape[1:] == (4, sleep.STEPS)
    assert cohort.modalities["sleep"].feature_names == list(sleep.CHANNELS)
    assert cohort.modalities["fundus_left"].data.shape[1:] == (64, 64, 3)
    assert cohort.modalities["fundus_right"].data.dtype == np.uint8
    assert list(cohort.covariates.columns) == list(COVARIATES)
    assert not cohort.covariates.isna().any().any()

    assert main(["validate", str(written)]) == 0  # as crl train does by default: the subject is kept
    out = capsys.readouterr().out
    for subject in missing["subject_id"]:
        assert subject in out
    assert "inferred from their other modalities" in out
    assert main(["validate", str(written), "--missing-modalities", "drop"]) == 0
    assert "left out" in capsys.readouterr().out


def test_memory_cohort_matches_the_disk(written):
    expected = generate("demo", n=N, seed=3).to_cohort()
    loaded = load_cohort(written)
    assert loaded.excluded == expected.excluded
    assert list(loaded.subject_ids) == list(expected.subject_ids)
    for name, m in expected.modalities.items():
        np.testing.assert_array_equal(loaded.modalities[name].data, m.data)


def test_sleep_values_are_in_device_ranges(larger):
    values = larger.modalities["sleep"].data
    heart, spo2, movement, snoring = (values[:, c] for c in range(4))
    assert 35 <= heart.min() and heart.max() <= 160 and 50 < np.median(heart) < 70
    assert 70 <= spo2.min() and spo2.max() <= 100 and 94 < np.median(spo2) < 98
    assert movement.min() >= 0 and np.all(movement == np.round(movement))
    assert 25 < np.median(snoring) < 55


def test_apnea_severity_drives_spo2_dips_and_snoring(larger):
    m = larger.modalities["sleep"]
    z = larger.truth.latents.loc[m.subject_ids]
    spo2 = m.data[:, 1]
    dips = np.percentile(spo2, 95, axis=1) - spo2.mean(axis=1)  # how far the night sags below its baseline
    assert spearmanr(z["sleep.z0"], dips)[0] > 0.8
    assert spearmanr(z["sleep.z0"], m.data[:, 3].mean(axis=1))[0] > 0.6
    assert abs(spearmanr(z["sleep.z2"], dips)[0]) < spearmanr(z["sleep.z0"], dips)[0] - 0.3
    assert spearmanr(z["sleep.z2"], np.median(m.data[:, 0], axis=1))[0] > 0.8


def test_age_drives_vessel_calibre_in_both_eyes(larger):
    z, age = larger.truth.latents, larger.covariates["age"]
    for eye in ("fundus_left", "fundus_right"):
        rho = spearmanr(age, z[f"{eye}.z0"])[0]
        assert rho < -0.2
        assert abs(spearmanr(age, z[f"{eye}.z2"])[0]) < abs(rho)


def test_do_intervention_on_apnea_moves_its_children_only():
    model = DemoModel()
    root = model.sample_covariates(2000, np.random.default_rng(0))
    high = model.sample_latents(root, np.random.default_rng(1), do={"sleep.z0": 1.5})
    low = model.sample_latents(root, np.random.default_rng(1), do={"sleep.z0": -1.5})
    shift = dict(zip(model.names, high.mean(axis=0) - low.mean(axis=0), strict=True))
    assert shift["fundus_left.z2"] > 1.0 and shift["fundus_right.z2"] > 1.0  # apnea -> cupping
    assert shift["sleep.z2"] > 0.8
    assert abs(shift["sleep.z0"] - 3.0) < 1e-9


def test_a_missing_night_is_a_flat_line(written):
    artefacts = pd.read_csv(written / "truth" / "artefacts.csv")
    flat = artefacts[artefacts["artefact"] == "flat_night"]
    with np.load(written / "sleep.npz") as data:
        ids, values = list(data["ids"]), data["values"]
    assert len(flat) == round(0.04 * len(ids))
    for subject, detail in zip(flat["subject_id"], flat["detail"], strict=True):
        night = int(detail.split()[1]) - 1
        segment = values[ids.index(subject), :, night * 48 : (night + 1) * 48]
        assert (segment == segment[:, :1]).all()
    intact = values[[i for i, s in enumerate(ids) if s not in set(flat["subject_id"])]]
    assert (intact.reshape(len(intact), 4, 3, 48).std(axis=-1) > 0).all()


def test_each_fundus_latent_changes_the_photograph():
    ramp = np.linspace(-2, 2, 9)
    zero, eta = np.zeros(1), np.zeros((1, 6))

    def render(latent: str, side: str = "right") -> np.ndarray:
        """One eye at each value of one latent; same layout and noise draws every time, so only it changes."""
        images = []
        for value in ramp:
            z = {"calibre": zero, "tortuosity": zero, "cup": zero} | {latent: np.full(1, value)}
            rng = np.random.default_rng(0)
            images.append(retina.render_fundus(z["calibre"], z["tortuosity"], z["cup"], eta, side, rng)[0])
        return np.asarray(images, dtype=float)

    # wider vessels: more of the field is dark-red vessel (less green)
    green = render("calibre")[..., 1].mean(axis=(1, 2))
    assert spearmanr(ramp, green)[0] < -0.95
    # a bigger cup: a paler disc (the cup is the only whitish feature, so blue rises with it)
    pale = render("cup")[:, 20:44, 40:62, 2].mean(axis=(1, 2))
    assert spearmanr(ramp, pale)[0] > 0.95
    # more tortuous vessels: the picture moves further from the straightest one
    wiggly = render("tortuosity")
    assert spearmanr(ramp, np.abs(wiggly - wiggly[0]).mean(axis=(1, 2, 3)))[0] > 0.95

    def disc_column(image: np.ndarray) -> int:
        brightness = image.sum(axis=-1)
        return int(np.unravel_index(np.argmax(brightness), brightness.shape)[1])

    left, right = render("cup", "left")[-1], render("cup", "right")[-1]
    assert disc_column(left) < 32 < disc_column(right)  # the optic disc sits nasally: left in a left eye


def test_photo_artefacts_are_recorded_and_visible(larger):
    rows = larger.extra_truth["artefacts"]
    for eye in ("fundus_left", "fundus_right"):
        m = larger.modalities[eye]
        position = {s: i for i, s in enumerate(m.subject_ids)}
        kinds = rows[rows["modality"] == eye].groupby("artefact")["subject_id"].apply(list)
        assert {"blurred", "dark", "dust"} <= set(kinds.index)
        brightness = m.data.astype(float).mean(axis=(1, 2, 3))
        dark = [position[s] for s in kinds["dark"]]
        assert brightness[dark].mean() < 0.75 * np.median(brightness)
        sharp = np.abs(np.diff(m.data.astype(float), axis=2)).mean(axis=(1, 2, 3))
        assert sharp[[position[s] for s in kinds["blurred"]]].mean() < np.median(sharp)
