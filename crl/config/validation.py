"""Range and consistency checks of a whole configuration, each naming the setting and what would be valid.

Bounds and choices come from each field's declaration (crl.config.fields); this module adds only what one
field cannot say alone: an encoder that fits its modality's kind, tiers and edges that name real modalities
and latents, and a device name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from crl.config.fields import declared
from crl.config.sections import KIND_ENCODERS
from crl.errors import ConfigError


def _check_declared(section: Any, prefix: str) -> None:
    for name, setting in declared(section):
        setting.check(f"{prefix}{name}", getattr(section, name))


def validate(config: Any) -> None:
    """Raise ConfigError for the first setting of a `Config` that is out of range or inconsistent."""
    _check_declared(config, "")  # method
    if not config.modalities:
        raise ConfigError("the configuration names no modalities")
    for name, m in config.modalities.items():
        where = f"modalities.{name}"
        _check_declared(m, f"{where}.")
        if m.encoder not in KIND_ENCODERS[m.kind]:
            raise ConfigError(
                f"{where}.encoder '{m.encoder}' does not fit {m.kind} data; choose one of "
                f"{', '.join(KIND_ENCODERS[m.kind])}"
            )
    for f in dataclasses.fields(config):
        section = getattr(config, f.name)
        if dataclasses.is_dataclass(section):
            _check_declared(section, f"{f.name}.")
    _check_graph(config)
    device = config.train.device
    if device != "auto" and device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"train.device '{device}' is unknown; use auto, cpu, cuda or cuda:N")


def _check_graph(config: Any) -> None:
    """Tiers that list every modality once; required and forbidden edges between existing latents."""
    g = config.graph
    if g.acyclicity == "tiers":
        unknown = [t for t in g.tiers if t not in config.modalities]
        if unknown:
            raise ConfigError(
                f"graph.tiers names unknown modalities {unknown}; known: {', '.join(config.modalities)}"
            )
        missing = [m for m in config.modalities if m not in g.tiers]
        if missing:
            raise ConfigError(f"graph.tiers must list every modality once; missing: {', '.join(missing)}")
        if len(set(g.tiers)) != len(g.tiers):
            raise ConfigError("graph.tiers lists a modality twice")
    names = set(config.latent_names())
    for label, pairs in (("required", g.required), ("forbidden", g.forbidden)):
        for source, target in pairs:
            for node in (source, target):
                if node not in names:
                    raise ConfigError(
                        f"graph.{label} edge {source} -> {target} names '{node}', which is not a latent; "
                        f"latents are {', '.join(sorted(names))}"
                    )
            if source == target:
                raise ConfigError(f"graph.{label} edge {source} -> {target} is a self-loop")
    clash = set(g.required) & set(g.forbidden)
    if clash:
        raise ConfigError(f"edges both required and forbidden: {sorted(clash)}")
