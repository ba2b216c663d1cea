"""Typed, frozen configuration: per-modality networks, graph, loss weights, training; saved beside the weights.

fields: how one setting is declared (default, bounds or choices, the page's label and help); sections: the
declared sections; validation: the checks; configuration: Config itself; sources: defaults, files, overrides.
"""

from crl.config.configuration import Config, setting
from crl.config.fields import Setting, declared
from crl.config.sections import (
    ACYCLICITY,
    FLOWS,
    KIND_ENCODERS,
    MAX_BINS,
    MAX_LATENTS,
    MAX_REALIGN,
    MAX_RESTARTS,
    METHODS,
    MISSING_MODALITIES,
    ORIENTATIONS,
    PRECISIONS,
    SCHEDULES,
    GraphConfig,
    LossConfig,
    ModalityConfig,
    PriorConfig,
    TrainConfig,
)
from crl.config.sources import (
    apply_overrides,
    check_schema,
    default_config,
    default_encoder,
    merge_dict,
    parse_value,
    resolve_config,
)
from crl.config.validation import validate

__all__ = [
    "ACYCLICITY",
    "FLOWS",
    "KIND_ENCODERS",
    "MAX_BINS",
    "MAX_LATENTS",
    "MAX_REALIGN",
    "MAX_RESTARTS",
    "METHODS",
    "MISSING_MODALITIES",
    "ORIENTATIONS",
    "PRECISIONS",
    "SCHEDULES",
    "Config",
    "GraphConfig",
    "LossConfig",
    "ModalityConfig",
    "PriorConfig",
    "Setting",
    "TrainConfig",
    "apply_overrides",
    "check_schema",
    "declared",
    "default_config",
    "default_encoder",
    "merge_dict",
    "parse_value",
    "resolve_config",
    "setting",
    "validate",
]
