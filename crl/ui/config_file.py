"""Configuration files a user saves and loads: JSON or TOML text in, a checked Config for a cohort out."""

from __future__ import annotations

import json
import tomllib
from pathlib import PurePath
from typing import Any

import tomli_w

from crl.config import Config, check_schema, default_config, merge_dict
from crl.errors import ConfigError

FORMATS = ("toml", "json")


def config_to_toml(config: Config, cohort_name: str = "") -> str:
    """The whole configuration as TOML, the format `crl train --config FILE` and the Model page read."""
    cohort_name = " ".join(str(cohort_name).split())  # a line break would end the comment
    header = f"# crl model configuration{f' for cohort {cohort_name}' if cohort_name else ''}\n"
    header += "# Load it on the Model page, or train with: crl train COHORT --out RUN --config THIS_FILE\n"
    return header + tomli_w.dumps(config.to_dict())


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
