"""Configuration files a user saves and loads: JSON or TOML text in, a checked Config for a cohort out."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import PurePath
from typing import Any

from crl.config import Config, check_schema, default_config, merge_dict
from crl.errors import ConfigError

FORMATS = ("toml", "json")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    """A TOML value: JSON's strings, numbers and arrays are valid TOML for the types a Config holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {type(value).__name__} values to TOML")


def _table(lines: list[str], header: str, values: dict[str, Any]) -> None:
    lines.append(f"\n[{header}]")
    lines.extend(f"{_key(k)} = {_value(v)}" for k, v in values.items())


def config_to_toml(config: Config, cohort_name: str = "") -> str:
    """The whole configuration as TOML, the format `crl train --config FILE` and the Model page read."""
    data = config.to_dict()
    lines = [f"# crl model configuration{f' for cohort {cohort_name}' if cohort_name else ''}"]
    lines.append("# Load it on the Model page, or train with: crl train COHORT --out RUN --config THIS_FILE")
    lines.append(f"method = {_value(data['method'])}")
    for name, spec in data["modalities"].items():
        _table(lines, f"modalities.{_key(name)}", spec)
    for section, values in data.items():  # every section, so a new one cannot be left out of the file
        if isinstance(values, dict) and section != "modalities":
            _table(lines, section, values)
    return "\n".join(lines) + "\n"


def config_to_json(config: Config) -> str:
    return json.dumps(config.to_dict(), indent=2) + "\n"


def parse_config_text(text: str, file_format: str) -> dict[str, Any]:
    """A configuration mapping from JSON or TOML text; ConfigError with the parser's position when malformed."""
    try:
        data = tomllib.loads(text) if file_format == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"this is not valid {file_format.upper()}: {error}") from None
    except RecursionError:
        raise ConfigError(
            f"this {file_format.upper()} nests tables or lists too deeply to be a configuration; save one from "
            "the Model page to see the expected shape"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"the file must hold a {file_format.upper()} table of settings, not a {type(data).__name__}"
        )
    # A run folder's config.json keeps the model configuration under "config" beside the cohort and versions.
    if isinstance(data.get("config"), dict):
        data = data["config"]
    return data


def read_config_file(filename: str, content: bytes, schema: dict[str, dict[str, Any]]) -> Config:
    """A Config for the cohort described by `schema` from an uploaded file (a partial file fills in defaults).

    Raises ConfigError naming the file and what is wrong: format, unknown keys, values, or modalities that do
    not match the cohort.
    """
    suffix = PurePath(filename).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ConfigError(f"{filename}: a configuration file must end in .toml or .json")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{filename}: the file is not UTF-8 text; save it as plain text and try again"
        ) from None
    try:
        data = parse_config_text(text, suffix)
        config = merge_dict(default_config(schema), data)
        check_schema(config, schema)
    except ConfigError as error:
        raise ConfigError(f"{filename}: {error}") from None
    return config
