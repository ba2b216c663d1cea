"""The Model page through AppTest: settings per modality, save/load files, the dry run, and refusals."""

import json
import tomllib

import pytest
from streamlit.testing.v1 import AppTest

from crl.config import Config, default_config
from crl.data import load_cohort
from crl.data.synthetic import write_preset
from crl.errors import ConfigError
from crl.ui.config_file import config_to_json, config_to_toml, read_config_file

P = "model_cfg."


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("CRL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CRL_RUNS", str(tmp_path / "runs"))


@pytest.fixture(scope="module")
def case1(tmp_path_factory):
    return write_preset("paper-case1", tmp_path_factory.mktemp("cohorts") / "case1", n=120, seed=0)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return write_preset("timeseries", tmp_path_factory.mktemp("cohorts") / "series", n=40, seed=0)


@pytest.fixture
def downloads(monkeypatch):
    """What each download button would hand the browser, by key (AppTest keeps no media files)."""
    from streamlit.delta_generator import DeltaGenerator

    saved: dict[str, bytes] = {}
    original = DeltaGenerator.download_button

    def recording(self, label, data, *args, **kwargs):
        saved[kwargs.get("key", label)] = data.encode() if isinstance(data, str) else data
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)
    return saved


def _model_page(cohort) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["cohort_dir"] = str(cohort)
    at.run()
    at.switch_page("pages/model.py").run()
    assert not at.exception, at.exception
    return at


def _session_config(at: AppTest) -> Config:
    return Config.from_dict(at.session_state["model_config"]["config"])


def _errors(at: AppTest) -> str:
    return " ".join(e.value.replace("\\", "") for e in at.error)


def _upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.file_uploader(key="model_config_upload").set_value((name, content, "text/plain")).run()
    assert not at.exception, at.exception
    return at


def test_widgets_show_the_cohort_defaults_and_edits_reach_the_session(case1):
    at = _model_page(case1)
    assert at.title[0].value == "Model"
    assert at.number_input(key=P + "modalities.m1.latents").value == 2
    assert at.selectbox(key=P + "modalities.m1.encoder").value == "mlp"
    assert at.number_input(key=P + "loss.sparsity").value == pytest.approx(0.01)
    at.number_input(key=P + "loss.sparsity").set_value(0.05).run()
    at.number_input(key=P + "modalities.m2.latents").set_value(3).run()
    at.number_input(key=P + "train.epochs").set_value(7).run()
    config = _session_config(at)
    assert config.loss.sparsity == pytest.approx(0.05)
    assert config.modalities["m2"].latents == 3 and config.train.epochs == 7
    # Another page forgets the widgets; coming back shows the stored settings, not the defaults.
    at.switch_page("pages/cohort.py").run()
    at.switch_page("pages/model.py").run()
    assert at.number_input(key=P + "loss.sparsity").value == pytest.approx(0.05)
    assert at.number_input(key=P + "modalities.m2.latents").value == 3
    # A reload is a new session: the edits come back from the settings saved for this cohort.
    again = _model_page(case1)
    assert again.number_input(key=P + "loss.sparsity").value == pytest.approx(0.05)
    assert again.number_input(key=P + "train.epochs").value == 7


def test_another_cohort_gets_its_own_defaults(case1, series):
    at = _model_page(case1)
    at.number_input(key=P + "train.lr").set_value(0.01).run()
    at.number_input(key=P + "modalities.m1.latents").set_value(4).run()
    at.session_state["cohort_dir"] = str(series)
    at.run()
    assert not at.exception
    expected = default_config(load_cohort(series).schema())
    assert _session_config(at).to_dict() == expected.to_dict()
    assert at.number_input(key=P + "train.lr").value == pytest.approx(expected.train.lr)
    for name, m in expected.modalities.items():
        assert at.number_input(key=P + f"modalities.{name}.latents").value == m.latents


def test_paper_weight_buttons_and_reset(case1):
    at = _model_page(case1)
    at.button(key="model_paper_image").click().run()
    loss = _session_config(at).loss
    assert (loss.reconstruction, loss.likelihood, loss.sparsity) == pytest.approx((2.0, 0.01, 0.001))
    at.button(key="model_reset").click().run()
    assert _session_config(at).to_dict() == default_config(load_cohort(case1).schema()).to_dict()
    assert at.number_input(key=P + "loss.reconstruction").value == pytest.approx(1.0)


def test_saved_toml_and_json_load_back(case1, downloads):
    at = _model_page(case1)
    at.number_input(key=P + "modalities.m1.width").set_value(48).run()
    at.number_input(key=P + "loss.sparsity").set_value(0.2).run()
    at.radio(key=P + "graph.acyclicity").set_value("tiers").run()
    at.multiselect(key=P + "graph.tiers").set_value(["m2", "m1"]).run()
    at.multiselect(key=P + "graph.required").set_value(["m2.z0 → m1.z1"]).run()
    at.multiselect(key=P + "graph.forbidden").set_value(["m1.z0 → m2.z0"]).run()
    at.selectbox(key=P + "prior.flow").set_value("spline").run()
    edited = _session_config(at)
    assert edited.graph.tiers == ("m2", "m1") and edited.graph.required == (("m2.z0", "m1.z1"),)
    assert edited.prior.flow == "spline"
    saved_toml, saved_json = downloads["model_save_toml"], downloads["model_save_json"]
    assert tomllib.loads(saved_toml.decode())["loss"]["sparsity"] == pytest.approx(0.2)

    for name, content in (("settings.toml", saved_toml), ("settings.json", saved_json)):
        at.button(key="model_reset").click().run()
        assert _session_config(at).modalities["m1"].width != 48
        _upload(at, name, content)
        assert _session_config(at).to_dict() == edited.to_dict()
        assert at.number_input(key=P + "modalities.m1.width").value == 48
        assert at.multiselect(key=P + "graph.tiers").value == ["m2", "m1"]
        assert at.selectbox(key=P + "prior.flow").value == "spline"
        assert any(name in s.value.replace("\\", "") for s in at.success)
        at.file_uploader(key="model_config_upload").set_value(None).run()


def test_invalid_uploads_name_the_problem_and_change_nothing(case1, series):
    at = _model_page(case1)
    at.number_input(key=P + "train.epochs").set_value(9).run()
    bad = {
        "unknown.toml": (
            b"[train]\nlearning_rate = 0.1\n",
            "unknown configuration key 'train.learning_rate'",
        ),
        "broken.toml": (b"[train\nepochs = 3\n", "not valid TOML"),
        "range.json": (json.dumps({"train": {"epochs": 0}}).encode(), "train.epochs"),
        "other.json": (config_to_json(default_config(load_cohort(series).schema())).encode(), "differ from"),
    }
    for name, (content, expected) in bad.items():
        _upload(at, name, content)
        message = _errors(at)
        assert expected in message and name in message, (name, message)
        assert _session_config(at).train.epochs == 9
        assert not at.success


def test_dry_run_shows_the_loss_terms(case1):
    at = _model_page(case1)
    at.button(key="model_dry_run").click().run()
    assert not at.exception and not at.error
    assert any("ran without errors" in s.value for s in at.success)
    table = at.dataframe[0].value
    terms = list(table["Term"])
    assert terms[0] == "Reconstruction error" and terms[-1] == "Total"
    assert terms[1:3] == ["· m1", "· m2"]  # each modality's share of the reconstruction error
    main = table[~table["Term"].str.startswith("·")].iloc[:-1]
    assert len(main) == 4
    assert main["Weighted"].sum() == pytest.approx(table["Value"].iloc[-1], rel=1e-4)
    per_modality = table.iloc[1:3]["Weighted"].sum()
    assert per_modality == pytest.approx(table["Weighted"].iloc[0], rel=1e-4)
    # Changing a setting marks the result as stale.
    at.number_input(key=P + "loss.sparsity").set_value(0.5).run()
    assert any("changed since the last check" in c.value for c in at.caption)


def test_dry_run_on_an_incompatible_setting_is_a_readable_error(series):
    at = _model_page(series)
    name = next(n for n, spec in load_cohort(series).schema().items() if spec["kind"] == "timeseries")
    at.number_input(key=P + f"modalities.{name}.depth").set_value(9).run()
    at.button(key="model_dry_run").click().run()
    assert not at.exception
    message = _errors(at)
    assert f"modalities.{name}" in message and "depth of 6 or less" in message
    assert not any("ran without errors" in s.value for s in at.success)


def test_incomplete_tier_order_is_explained_and_not_stored(case1):
    at = _model_page(case1)
    at.radio(key=P + "graph.acyclicity").set_value("tiers").run()
    assert _session_config(at).graph.tiers == ("m1", "m2")  # the cohort's order to start with
    at.multiselect(key=P + "graph.tiers").set_value(["m2"]).run()
    assert "missing: m1" in _errors(at)
    assert _session_config(at).graph.tiers == ("m1", "m2")  # the last valid settings stay in use
    at.multiselect(key=P + "graph.tiers").set_value(["m2", "m1"]).run()
    assert not at.error and _session_config(at).graph.tiers == ("m2", "m1")


def test_fewer_latents_drop_edges_that_named_them(case1):
    at = _model_page(case1)
    at.number_input(key=P + "modalities.m2.latents").set_value(3).run()
    at.multiselect(key=P + "graph.required").set_value(["m1.z0 → m2.z2", "m1.z1 → m2.z0"]).run()
    at.number_input(key=P + "modalities.m2.latents").set_value(2).run()
    assert not at.exception
    assert _session_config(at).graph.required == (("m1.z1", "m2.z0"),)
    assert any("m2.z2" in i.value.replace("\\", "") for i in at.info)


def test_toml_writer_quotes_odd_modality_names():
    schema = {
        "fundus left": {"kind": "image", "shape": [32, 32, 3], "latents": 3},
        'labs "v2"': {"kind": "tabular", "shape": [5], "latents": 2},
    }
    config = default_config(schema)
    text = config_to_toml(config, cohort_name="eyes")
    assert Config.from_dict(tomllib.loads(text)).to_dict() == config.to_dict()
    assert read_config_file("x.toml", text.encode(), schema).to_dict() == config.to_dict()
    # A run folder's config.json nests the model configuration under "config".
    nested = json.dumps({"config": config.to_dict(), "cohort": {"path": "/x"}}).encode()
    assert read_config_file("config.json", nested, schema).to_dict() == config.to_dict()
    with pytest.raises(ConfigError, match="must end in .toml or .json"):
        read_config_file("notes.txt", b"method = 'ours'", schema)
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_config_file("x.toml", b"\xff\xfe", schema)


def test_toml_file_keeps_a_changed_setting_in_every_section():
    """The TOML writer once left the prior section out, so a saved flow or realignment count came back default."""
    schema = {"labs": {"kind": "tabular", "shape": [5], "latents": 2}}
    changed = {
        "prior": {"flow": "spline", "realign": 7},
        "graph": {"temperature": 0.3},
        "loss": {"beta": 2.0},
        "train": {"patience": 7},
    }
    data = default_config(schema).to_dict()
    assert set(changed) == {k for k, v in data.items() if isinstance(v, dict)} - {"modalities"}
    for section, values in changed.items():
        data[section].update(values)
    config = Config.from_dict(data)
    assert read_config_file("x.toml", config_to_toml(config).encode(), schema).to_dict() == config.to_dict()


def test_the_current_trained_models_settings_can_be_loaded_in_one_click(case1, tmp_path):
    from dataclasses import replace

    schema = load_cohort(case1).schema()
    base = default_config(schema)
    trained = replace(base, loss=replace(base.loss, sparsity=0.05), train=replace(base.train, epochs=7))
    run = tmp_path / "runs" / "sparse-run"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"config": trained.to_dict()}))
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["cohort_dir"] = str(case1)
    at.session_state["run_dir"] = str(run)
    at.run()
    at.switch_page("pages/model.py").run()
    at.button(key="model_from_run").click().run()
    assert not at.exception, at.exception
    assert _session_config(at).loss.sparsity == 0.05 and _session_config(at).train.epochs == 7
    assert at.session_state[P + "loss.sparsity"] == 0.05  # the widgets show it too
    assert any("sparse-run" in s.value.replace("\\", "") for s in at.success)


def test_a_trained_model_for_other_modalities_is_refused_and_nothing_changes(case1, tmp_path):
    from crl.ui.demo import demo_run_dir

    shipped = demo_run_dir()  # sleep and both eyes: not case 1's modalities
    assert shipped is not None
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.session_state["cohort_dir"] = str(case1)
    at.session_state["run_dir"] = str(shipped)
    at.run()
    at.switch_page("pages/model.py").run()
    before = _session_config(at)
    at.button(key="model_from_run").click().run()
    assert not at.exception, at.exception
    assert "Demo model" in _errors(at) and "modalities" in _errors(at)
    assert _session_config(at) == before


def test_the_demo_cohort_starts_from_its_shipped_models_settings():
    from crl.ui.demo import SHIPPED, demo_run_dir

    shipped = json.loads((demo_run_dir() / "config.json").read_text())["config"]
    at = _model_page(SHIPPED)
    config = _session_config(at)
    # The demo's small networks and 12 eta dimensions per eye, not the engine's defaults (width 32, 1 eta).
    assert config.modalities["fundus_left"].eta == shipped["modalities"]["fundus_left"]["eta"] == 12
    assert (
        at.session_state[P + "modalities.fundus_left.width"] == shipped["modalities"]["fundus_left"]["width"]
    )
    assert config.train.epochs == shipped["train"]["epochs"]
    assert config.train.device == "auto"  # built on a CPU; here CUDA is used when present
    at.number_input(key=P + "modalities.fundus_left.eta").set_value(4).run()
    assert _session_config(at).modalities["fundus_left"].eta == 4
    at.button(key="model_reset").click().run()
    assert not at.exception, at.exception
    assert _session_config(at).modalities["fundus_left"].eta == 12  # reset goes back to the demo's settings


def test_modalities_are_named_by_their_cohort_toml_labels_with_the_settings_name_beside(case1, tmp_path):
    import shutil

    labelled = tmp_path / "labelled"
    shutil.copytree(case1, labelled)
    manifest = labelled / "cohort.toml"
    manifest.write_text(
        manifest.read_text().replace("[modalities.m1]\n", '[modalities.m1]\nlabel = "Blood tests"\n')
    )
    text = " ".join(m.value for m in _model_page(labelled).markdown)
    assert "**Blood tests** · `m1`" in text  # the label a reader knows, the name settings files use
    assert "**M2** · `m2`" in text  # no label declared: a readable form of the name
