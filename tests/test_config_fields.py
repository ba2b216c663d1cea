"""Each setting is declared once (crl.config.fields): validation and the Model page's widgets read the same bounds."""

import dataclasses
import typing

import pytest

from crl.config import (
    MAX_LATENTS,
    Config,
    LossConfig,
    ModalityConfig,
    apply_overrides,
    declared,
    default_config,
    setting,
)
from crl.errors import ConfigError

SCHEMA = {
    "labs": {"kind": "tabular", "shape": [4], "latents": 2},
    "eye": {"kind": "image", "shape": [8, 8, 1]},
}


def _paths() -> list[str]:
    """Every declared setting's dotted path, with one modality standing for all."""
    hints = typing.get_type_hints(Config)
    paths = [name for name, _ in declared(Config)]
    paths += [f"modalities.labs.{name}" for name, _ in declared(ModalityConfig)]
    for section in ("graph", "prior", "loss", "train"):
        paths += [f"{section}.{name}" for name, _ in declared(hints[section])]
    return paths


NUMERIC = [p for p in _paths() if setting(p).low is not None or setting(p).high is not None]


def _set(path: str, value) -> Config:
    return apply_overrides(default_config(SCHEMA), [f"{path}={value}"])


def test_every_section_field_with_a_range_or_choice_is_declared():
    assert {"modalities.labs.latents", "train.lr", "loss.graph_warmup", "method", "prior.flow"} <= set(
        _paths()
    )
    assert len(NUMERIC) > 30


@pytest.mark.parametrize("path", _paths())
def test_each_default_has_its_fields_type_and_lies_in_its_range(path):
    spec = setting(path)
    section, _, name = path.rpartition(".")
    owner = {"": Config, "modalities.labs": ModalityConfig}.get(section) or typing.get_type_hints(Config)[
        section
    ]
    annotation = typing.get_type_hints(owner)[name]
    default = {f.name: f.default for f in dataclasses.fields(owner)}[name]
    assert spec.default == default
    if annotation in (int, float):
        assert type(default) is annotation, f"write {path}'s default as {annotation.__name__}"
        assert spec.within(default)
    if spec.choices:
        assert default in spec.choices


@pytest.mark.parametrize("path", NUMERIC)
def test_validation_refuses_just_outside_each_declared_bound_and_names_the_range(path):
    spec = setting(path)
    whole = isinstance(spec.default, int)
    step = 1 if whole else 0.01
    for bound, is_open, outside in ((spec.low, spec.open_low, -step), (spec.high, spec.open_high, step)):
        if bound is None:
            continue
        refused = bound if is_open else bound + outside
        with pytest.raises(ConfigError) as caught:
            _set(path, refused)
        assert path in str(caught.value) and f"must {spec.allowed()}" in str(caught.value)
        accepted = bound - outside if is_open else bound
        assert _set(path, accepted) is not None


def test_latents_are_capped_and_the_message_says_the_range():
    with pytest.raises(ConfigError, match=r"modalities.labs.latents must lie between 1 and 32 \(got 33\)"):
        _set("modalities.labs.latents", MAX_LATENTS + 1)
    assert setting("modalities.any.latents").high == MAX_LATENTS


def test_every_loss_weight_is_a_number_zero_or_more():
    for name, spec in declared(LossConfig):
        assert spec.low == 0 and not spec.open_low, name
    with pytest.raises(ConfigError, match="loss.beta must be a finite number"):
        Config.from_dict({**default_config(SCHEMA).to_dict(), "loss": {"beta": float("inf")}})


def test_every_model_page_widget_has_a_declared_label():
    from crl.ui import model_config as mc

    paths = [*mc.PLAIN_FIELDS, "graph.acyclicity", "graph.tiers", "graph.required", "graph.forbidden"]
    paths += [f"modalities.labs.{field}" for field in mc.MODALITY_FIELDS]
    for path in paths:
        assert setting(path).label, path


def test_latent_names_follow_the_one_spelling():
    config = default_config(SCHEMA)
    assert config.latent_names() == ["labs.z0", "labs.z1", "eye.z0", "eye.z1"]


def test_a_cohort_manifest_with_more_latents_than_a_model_takes_is_refused(tmp_path):
    from crl.data.manifest import read_manifest

    (tmp_path / "cohort.toml").write_text(
        f'[modalities.labs]\nkind = "tabular"\npath = "labs.csv"\nlatents = {MAX_LATENTS + 1}\n'
    )
    _, problems = read_manifest(tmp_path)
    bad = [p for p in problems if p.check == "bad_latents"]
    assert bad and f"more than {MAX_LATENTS}" in bad[0].message
