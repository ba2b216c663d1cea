"""Config: the whole configuration, saved beside the weights; built from plain data with typed, checked values."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from crl.config.fields import Setting, declaration, declare
from crl.config.sections import (
    METHODS,
    GraphConfig,
    LossConfig,
    ModalityConfig,
    PriorConfig,
    TrainConfig,
)
from crl.config.validation import validate
from crl.errors import ConfigError
from crl.graphs.names import latent_names


@dataclass(frozen=True)
class Config:
    """Everything needed to rebuild and retrain a model; `modalities` keeps the cohort's modality order."""

    modalities: dict[str, ModalityConfig] = field(default_factory=dict)
    graph: GraphConfig = field(default_factory=GraphConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: str = declare(
        "ours",
        choices=METHODS,
        label="Method",
        names={
            "ours": "Causal (the paper's method: learned graph + flow prior)",
            "beta-vae": "β-VAE baseline (no graph, independent latents)",
            "no-graph": "No graph (flow prior with every edge closed)",
        },
        help="The baselines help judge what the causal prior adds.",
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build and validate; unknown keys raise ConfigError naming the key and the valid ones."""
        if not isinstance(data, dict):
            raise ConfigError(f"a configuration must be a mapping, got {type(data).__name__}")
        _check_keys(data, cls, "")
        modalities_raw = data.get("modalities", {})
        if not isinstance(modalities_raw, dict):
            raise ConfigError("'modalities' must map modality names to their settings")
        modalities = {
            str(name): _build(ModalityConfig, spec, f"modalities.{name}")
            for name, spec in modalities_raw.items()
        }
        config = cls(
            modalities=modalities,
            graph=_build(GraphConfig, data.get("graph", {}), "graph"),
            prior=_build(PriorConfig, data.get("prior", {}), "prior"),
            loss=_build(LossConfig, data.get("loss", {}), "loss"),
            train=_build(TrainConfig, data.get("train", {}), "train"),
            method=_coerce(data.get("method", "ours"), str, "method"),
        )
        validate(config)
        return config

    def latent_names(self) -> list[str]:
        """`<modality>.z<k>` for every latent causal variable, in model order."""
        return latent_names({name: m.latents for name, m in self.modalities.items()})


def setting(path: str) -> Setting:
    """The declaration of a dotted setting: "train.lr", "method", or "modalities.<any name>.latents"."""
    parts = path.split(".")
    if parts[0] == "modalities" and len(parts) == 3:
        return declaration(ModalityConfig, parts[2])
    if len(parts) == 2:
        return declaration(typing.get_type_hints(Config).get(parts[0]), parts[1])
    return declaration(Config, path)


def _check_keys(data: dict, cls: type, prefix: str) -> None:
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in valid:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"unknown configuration key '{where}'; valid keys here: {', '.join(valid)}")


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert JSON-ish values to the annotated type (lists to tuples, ints to floats) or raise ConfigError."""
    origin = typing.get_origin(annotation)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{where}' must be a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{where}' must be an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{where}' must be true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{where}' must be text, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(annotation)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{where}' must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"'{where}' must have {len(args)} items, got {value!r}")
        return tuple(
            _coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=False))
        )
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"internal: union annotation at '{where}'")  # not used by any field
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"'{prefix}' must be a mapping of settings, got {data!r}")
    _check_keys(data, cls, prefix)
    hints = typing.get_type_hints(cls)
    values = {key: _coerce(value, hints[key], f"{prefix}.{key}") for key, value in data.items()}
    return cls(**values)
