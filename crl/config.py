"""Typed, frozen configuration: per-modality networks, graph, loss weights, training; saved beside the weights."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crl.errors import ConfigError

KIND_ENCODERS: dict[str, tuple[str, ...]] = {
    "tabular": ("mlp",),
    "timeseries": ("cnn1d", "gru", "mlp"),
    "image": ("resnet", "mlp"),
}
METHODS = ("ours", "beta-vae", "no-graph")
ACYCLICITY = ("learned", "tiers")
ORIENTATIONS = ("order", "pairwise")
SCHEDULES = ("cosine", "plateau", "constant")
PRECISIONS = ("auto", "bf16", "fp16", "off")
FLOWS = ("affine", "spline")
MAX_BINS = 64
MAX_RESTARTS = 20  # each restart is a full training run
MAX_REALIGN = 50  # each realignment encodes up to train.REALIGN_SUBJECTS subjects


@dataclass(frozen=True)
class ModalityConfig:
    """One modality's networks and latent sizes.

    encoder: a family valid for `kind` (tabular: mlp; timeseries: cnn1d | gru | mlp; image: resnet | mlp).
    depth: hidden layers (mlp), down-sampling stages (cnn1d, resnet; 0 = chosen from the input size) or GRU layers.
    width: hidden units (mlp, gru) or base channels (cnn1d, resnet).
    latents: latent causal variables z^(m); eta: modality-specific exogenous dimensions eta^(m).
    """

    kind: str = "tabular"
    encoder: str = "mlp"
    depth: int = 3
    width: int = 128
    latents: int = 2
    eta: int = 1


@dataclass(frozen=True)
class GraphConfig:
    """The latent graph's constraints.

    acyclicity: "learned" (trace-exponential penalty on the whole graph) or "tiers": `tiers` lists modality
    names from causes to effects, edges only go from an earlier-or-same tier, and the penalty acts within tiers.
    required / forbidden: edges as ("<modality>.z<k>", "<modality>.z<k>") pairs, source first.
    initial_strength: every pair's probability of being linked before training (a probability in (0, 1));
    a pair free in both directions starts at half of it each way.
    temperature: of the relaxed-Bernoulli edge gates sampled during training (lower = closer to 0/1).
    lr_multiplier: the edge parameters' learning rate relative to train.lr (the graph must settle while the
    encoders still move).
    Training has three phases (bench/results/FINDINGS.md says why). In the warm-up (loss.graph_warmup) the
    prior sees every cross-modal edge and no within-modality edge, which pins each latent down as what the
    other modalities predict of it. Then the latents stand still while the graph is learnt on them: letting
    the representation follow a graph that is still wrong turned good latents away from the truth.
    representation_lr_after_warmup: the learning rate of the encoders, decoders and per-modality rotations
    during the graph schedule (loss.acyclicity_warmup), relative to train.lr; 0 freezes them.
    networks_lr_after_schedule: the same once the schedule is complete.
    orientation: "order" samples a causal order per subject, so every sampled graph is acyclic (crl.core.latent_graph);
    "pairwise" is the layout of runs saved before it, one free orientation per pair.
    search_order: at the end of the warm-up, point the graph at the causal order whose graph needs the fewest
    cross-modal edges (crl.core.graph_search) before gradient steps refine it.
    """

    acyclicity: str = "learned"
    tiers: tuple[str, ...] = ()
    required: tuple[tuple[str, str], ...] = ()
    forbidden: tuple[tuple[str, str], ...] = ()
    initial_strength: float = 0.9
    temperature: float = 0.5
    lr_multiplier: float = 1.0
    representation_lr_after_warmup: float = 0.0
    networks_lr_after_schedule: float = 0.0
    orientation: str = "order"
    search_order: bool = True


@dataclass(frozen=True)
class PriorConfig:
    """The latent causal prior's flows and the per-modality rotation in front of them.

    hidden / layers: each latent's conditioner MLP.
    flow: "affine" (each latent Gaussian given its parents, with a mean and scale that depend on them) or
    "spline" (a monotone rational-quadratic spline after the affine map, for non-Gaussian noise); bins: the
    spline's segments.
    rotation: learn a rotation of each modality's [z, eta] that the decoder undoes, so the prior can turn the
    latents inside a block without the autoencoder resisting (reconstruction is blind to it).
    realign: how many times, evenly spread over the warm-up, to turn each modality's rotation so that z spans
    what the other modalities predict of [z, eta] (crl.core.realign); it pulls a true latent back out of eta, which
    gradient steps do not. 0 never does.
    """

    hidden: int = 32
    layers: int = 2
    flow: str = "affine"
    bins: int = 8
    rotation: bool = True
    realign: int = 4


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms (paper Eq. 6 defaults for numerical data).

    reconstruction: alpha_R on the summed squared error of every normalised modality.
    likelihood: alpha_I on the KL of the posterior to the causal prior, E_q[log q - log p].
    sparsity: alpha_S on the L1 norm of cross-modal edge strengths.
    graph_warmup: fraction of training during which the prior sees every cross-modal edge (which pulls shared
    information into z and leaves the private part to eta) while the graph learns on the side, and no penalty
    applies (Adam moves a parameter with a tiny but steady gradient at full speed, so an early penalty would
    close edges before the prior has learnt to use them). By default it is also the only phase in which the
    encoders learn (graph.representation_lr_after_warmup), hence half of training.
    acyclicity: weight of the acyclicity penalty.
    acyclicity_warmup: fraction of training, after the graph warm-up, over which the warm-up gates fade out and
    the sparsity and acyclicity weights rise linearly to their values.
    beta: the beta-VAE baseline's KL weight is `likelihood * beta`.
    """

    reconstruction: float = 1.0
    likelihood: float = 0.1
    sparsity: float = 0.01
    acyclicity: float = 1.0
    graph_warmup: float = 0.5
    acyclicity_warmup: float = 0.3
    beta: float = 4.0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; `device` is "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".

    Training runs `epochs` epochs, or more when that is fewer than `min_steps` optimisation steps (small
    cohorts), since the graph schedule (loss.graph_warmup, loss.acyclicity_warmup) needs steps, not passes.
    Early stopping (`patience` epochs without a better validation loss, after at least `min_epochs`) never
    stops before that schedule is complete, and the weights kept at the end are the best validation epoch's
    among those after it.

    `restarts` > 1 trains that many times from seeds `seed`, `seed + 1`, … on one validation split (drawn from
    `seed`) and keeps the run with the lowest best validation loss (crl.engine.restarts): which optimum training
    reaches depends on the initial weights, at `restarts` times the time."""

    epochs: int = 100
    min_steps: int = 0  # the UI promises "N epochs": stretching is opt-in (e.g. --set train.min_steps=3000)
    batch_size: int = 256
    lr: float = 2e-3
    schedule: str = "cosine"
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    patience: int = 20
    min_epochs: int = 10
    grad_clip: float = 10.0
    weight_decay: float = 0.0
    seed: int = 0
    restarts: int = 1
    validation_fraction: float = 0.1
    device: str = "auto"
    mixed_precision: str = "auto"
    log_every: int = 1
    checkpoint_every: int = 10


@dataclass(frozen=True)
class Config:
    """Everything needed to rebuild and retrain a model; `modalities` keeps the cohort's modality order."""

    modalities: dict[str, ModalityConfig] = field(default_factory=dict)
    graph: GraphConfig = field(default_factory=GraphConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: str = "ours"

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
        return [f"{name}.z{k}" for name, m in self.modalities.items() for k in range(m.latents)]


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


def validate(config: Config) -> None:
    """Range and consistency checks, each naming the setting and what would be valid."""
    if config.method not in METHODS:
        raise ConfigError(f"method '{config.method}' is unknown; choose one of {', '.join(METHODS)}")
    if not config.modalities:
        raise ConfigError("the configuration names no modalities")
    for name, m in config.modalities.items():
        where = f"modalities.{name}"
        if m.kind not in KIND_ENCODERS:
            raise ConfigError(f"{where}.kind '{m.kind}' is unknown; choose one of {', '.join(KIND_ENCODERS)}")
        if m.encoder not in KIND_ENCODERS[m.kind]:
            raise ConfigError(
                f"{where}.encoder '{m.encoder}' does not fit {m.kind} data; choose one of "
                f"{', '.join(KIND_ENCODERS[m.kind])}"
            )
        if m.latents < 1:
            raise ConfigError(f"{where}.latents must be at least 1 (got {m.latents})")
        if m.eta < 0:
            raise ConfigError(f"{where}.eta must be 0 or more (got {m.eta})")
        if m.width < 1 or m.depth < 0:
            raise ConfigError(f"{where}: width must be >= 1 and depth >= 0 (got {m.width}, {m.depth})")
    g = config.graph
    if g.orientation not in ORIENTATIONS:
        raise ConfigError(
            f"graph.orientation '{g.orientation}' is unknown; choose one of {', '.join(ORIENTATIONS)}"
        )
    if g.acyclicity not in ACYCLICITY:
        raise ConfigError(
            f"graph.acyclicity '{g.acyclicity}' is unknown; choose one of {', '.join(ACYCLICITY)}"
        )
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
    if not 0.0 < g.initial_strength < 1.0:
        raise ConfigError(f"graph.initial_strength must lie in (0, 1) (got {g.initial_strength})")
    if g.temperature <= 0:
        raise ConfigError(f"graph.temperature must be positive (got {g.temperature})")
    if g.representation_lr_after_warmup < 0:
        raise ConfigError(
            f"graph.representation_lr_after_warmup must be 0 or more (got {g.representation_lr_after_warmup})"
        )
    if g.networks_lr_after_schedule < 0:
        raise ConfigError(
            f"graph.networks_lr_after_schedule must be 0 or more (got {g.networks_lr_after_schedule})"
        )
    if config.prior.hidden < 1 or config.prior.layers < 1:
        raise ConfigError(
            f"prior.hidden and prior.layers must be >= 1 (got {config.prior.hidden}, {config.prior.layers})"
        )
    if config.prior.flow not in FLOWS:
        raise ConfigError(f"prior.flow must be one of {', '.join(FLOWS)} (got '{config.prior.flow}')")
    if not 2 <= config.prior.bins <= MAX_BINS:
        raise ConfigError(f"prior.bins must lie between 2 and {MAX_BINS} (got {config.prior.bins})")
    if not 0 <= config.prior.realign <= MAX_REALIGN:
        raise ConfigError(f"prior.realign must lie between 0 and {MAX_REALIGN} (got {config.prior.realign})")
    for f in dataclasses.fields(LossConfig):
        value = getattr(config.loss, f.name)
        if value < 0 or not math.isfinite(value):
            raise ConfigError(f"loss.{f.name} must be a finite number >= 0 (got {value})")
    t = config.train
    if t.min_steps < 0:
        raise ConfigError(f"train.min_steps must be 0 or more (got {t.min_steps})")
    if t.epochs < 1 or t.batch_size < 1:
        raise ConfigError(f"train.epochs and train.batch_size must be >= 1 (got {t.epochs}, {t.batch_size})")
    if not t.lr > 0:
        raise ConfigError(f"train.lr must be positive (got {t.lr})")
    if t.schedule not in SCHEDULES:
        raise ConfigError(f"train.schedule '{t.schedule}' is unknown; choose one of {', '.join(SCHEDULES)}")
    if t.mixed_precision not in PRECISIONS:
        raise ConfigError(
            f"train.mixed_precision '{t.mixed_precision}' is unknown; choose one of {', '.join(PRECISIONS)}"
        )
    if not 0.0 <= t.validation_fraction < 1.0:
        raise ConfigError(f"train.validation_fraction must lie in [0, 1) (got {t.validation_fraction})")
    if t.device != "auto" and t.device != "cpu" and not t.device.startswith("cuda"):
        raise ConfigError(f"train.device '{t.device}' is unknown; use auto, cpu, cuda or cuda:N")
    if not 1 <= t.restarts <= MAX_RESTARTS:
        raise ConfigError(f"train.restarts must lie between 1 and {MAX_RESTARTS} (got {t.restarts})")
    if t.patience < 1 or t.log_every < 1 or t.checkpoint_every < 1:
        raise ConfigError("train.patience, train.log_every and train.checkpoint_every must be >= 1")


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
