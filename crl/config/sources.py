"""Where a configuration comes from: a cohort's defaults, then a --config file, then --set overrides."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from typing import Any

from crl.config.configuration import Config
from crl.config.sections import KIND_ENCODERS, ModalityConfig
from crl.config.validation import validate
from crl.errors import ConfigError


def parse_value(text: str) -> Any:
    """JSON-ish: numbers, true/false, lists and quoted strings parse as JSON; anything else stays text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text


def apply_overrides(config: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Apply "dotted.key=value" overrides, e.g. ["train.lr=1e-3", "modalities.labs.latents=3"]."""
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like section.key=value (e.g. train.lr=1e-3)")
        key, text = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"override '{item}' has an empty key")
        node = data
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                valid = ", ".join(node) if isinstance(node, dict) else "(none: not a section)"
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"unknown configuration key '{where}'; valid keys here: {valid}")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            valid = ", ".join(node) if isinstance(node, dict) else "(none: not a section)"
            raise ConfigError(f"unknown configuration key '{key.strip()}'; valid keys here: {valid}")
        value = parse_value(text.strip())
        if isinstance(node[parts[-1]], str) and not isinstance(value, str):
            value = text.strip()  # "train.device=0" style values stay text where text is expected
        node[parts[-1]] = value
    return Config.from_dict(data)


def merge_dict(config: Config, data: dict[str, Any]) -> Config:
    """Overlay a partial configuration (e.g. from a --config file) on `config`, section by section."""
    base = config.to_dict()

    def overlay(target: dict, source: dict, prefix: str) -> None:
        for key, value in source.items():
            where = f"{prefix}.{key}" if prefix else key
            if key not in target and prefix != "modalities":
                raise ConfigError(
                    f"unknown configuration key '{where}'; valid keys here: {', '.join(target)}"
                )
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                overlay(target[key], value, where)
            else:
                target[key] = value

    overlay(base, data, "")
    return Config.from_dict(base)


def default_encoder(kind: str, shape: tuple[int, ...] | list[int]) -> tuple[str, int, int]:
    """(family, depth, width) that suits a modality of this kind and observation shape."""
    if kind == "tabular":
        return "mlp", 3, 64
    if kind == "timeseries":
        return "cnn1d", 0, 32
    if kind == "image":
        return "resnet", 0, 32
    raise ConfigError(f"unknown modality kind '{kind}'; choose one of {', '.join(KIND_ENCODERS)}")


def default_config(cohort_schema: dict[str, dict[str, Any]]) -> Config:
    """Defaults for a cohort: encoders by kind, latents from the manifest, one eta dimension per modality.

    `cohort_schema` is `Cohort.schema()`: name -> {"kind", "shape", "features", "latents"}.
    """
    modalities = {}
    for name, spec in cohort_schema.items():
        kind = spec.get("kind")
        family, depth, width = default_encoder(kind, spec.get("shape", ()))
        modalities[name] = ModalityConfig(
            kind=kind,
            encoder=family,
            depth=depth,
            width=width,
            latents=int(spec.get("latents", 2) or 2),
            eta=1,
        )
    config = Config(modalities=modalities)
    validate(config)
    return config


def check_schema(config: Config, schema: dict[str, dict[str, Any]]) -> None:
    """Raise ConfigError when the configuration's modalities do not match a cohort's."""
    if list(config.modalities) != list(schema):
        raise ConfigError(
            f"the configuration's modalities ({', '.join(config.modalities)}) differ from the cohort's "
            f"({', '.join(schema)})"
        )
    for name, m in config.modalities.items():
        if m.kind != schema[name]["kind"]:
            raise ConfigError(
                f"modality '{name}' is {schema[name]['kind']} in the cohort but {m.kind} in the config"
            )


def resolve_config(
    cohort_schema: dict[str, dict[str, Any]],
    config_path: str | None,
    overrides: Sequence[str],
    device: str | None,
    seed: int | None,
) -> Config:
    """Defaults for the cohort, then a --config file (JSON or TOML), then --set overrides, then --device/--seed."""
    from pathlib import Path

    config = default_config(cohort_schema)
    if config_path:
        path = Path(config_path)
        if not path.is_file():
            raise ConfigError(f"configuration file {path} does not exist")
        text = path.read_text()
        try:
            if path.suffix.lower() == ".toml":
                data = tomllib.loads(text)
            else:
                data = json.loads(text)
        except Exception as error:  # noqa: BLE001 - any parse failure is the user's file
            raise ConfigError(f"cannot read configuration file {path}: {error}") from error
        # A saved run's config.json nests the model configuration under "config".
        if isinstance(data, dict) and "config" in data and isinstance(data["config"], dict):
            data = data["config"]
        config = merge_dict(config, data)
    extra = list(overrides)
    if device and device != "auto":
        extra.append(f"train.device={device}")
    if seed is not None:
        extra.append(f"train.seed={seed}")
    if extra:
        config = apply_overrides(config, extra)
    return config
