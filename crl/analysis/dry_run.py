"""A one-batch dry run: build the model for a cohort and run one loss and one backward pass on a few subjects.

It catches configuration mistakes in seconds, before a background job is started: settings that do not fit
the cohort, encoders too deep for the data, a device that does not exist, data that cannot be normalised.
Every failure is raised as a ConfigError or TrainingError whose message names the setting and the fix.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crl.config import Config, check_schema, validate
from crl.data.cohort import Cohort, Modality
from crl.errors import ConfigError, CrlError, TrainingError

DRY_RUN_SUBJECTS = 16
# Above this many weights a CPU epoch becomes slow and a GPU may run short of memory: worth a warning.
LARGE_MODEL_PARAMETERS = 20_000_000


@dataclass
class DryRunReport:
    """What one batch told us: loss terms, their weighted share of the total, model size, timings, warnings.

    terms: name -> value as logged in metrics.jsonl (e.g. `total`, `reconstruction.labs`, `likelihood`).
    weighted: the main terms multiplied by their configured weight (they add up to `terms["total"]`).
    parameters: trainable weights per part: each modality's encoder + decoder, then `graph` and `prior`.
    """

    terms: dict[str, float]
    weighted: dict[str, float]
    parameters: dict[str, int]
    subjects: int
    build_seconds: float
    step_seconds: float  # one forward + backward pass on the batch, after a first one that warmed up
    device: str
    warnings: list[str] = field(default_factory=list)

    @property
    def total_parameters(self) -> int:
        return sum(self.parameters.values())


def max_stages(kind: str, shape: tuple[int, ...] | list[int]) -> int | None:
    """The most stride-2 stages a convolutional encoder can apply to this cohort-layout shape (None: not conv)."""
    if kind == "image":
        height, width = int(shape[0]), int(shape[1])
        return max(1, int(math.floor(math.log2(max(min(height, width), 2)))))
    if kind == "timeseries":
        length = int(shape[1])
        return max(1, int(math.floor(math.log2(max(length, 2)))))
    return None


def check_encoders(config: Config, schema: dict[str, dict[str, Any]]) -> None:
    """Refuse depths that would shrink an image or series below one pixel or step.

    Such a decoder would have to up-sample by 2^depth and allocate far more memory than the data needs.
    """
    for name, m in config.modalities.items():
        if m.encoder not in ("resnet", "cnn1d"):
            continue
        limit = max_stages(m.kind, schema[name]["shape"])
        if limit is not None and m.depth > limit:
            unit = "pixels" if m.kind == "image" else "time steps"
            size = min(schema[name]["shape"][:2]) if m.kind == "image" else schema[name]["shape"][1]
            raise ConfigError(
                f"modalities.{name}: a {m.encoder} encoder with depth {m.depth} halves the input {m.depth} times, "
                f"but '{name}' has only {size} {unit}; choose a depth of {limit} or less, or 0 to pick it from "
                "the data"
            )


def check_device(spec: str) -> str:
    """The device training would use here; ConfigError (worded for any front end) when it does not exist."""
    from crl.engine.device import resolve_device

    try:
        return str(resolve_device(spec))
    except TrainingError:
        import torch

        count = torch.cuda.device_count()
        have = f"this machine has {count} GPU(s)" if count else "this machine has no usable CUDA GPU"
        raise ConfigError(
            f"train.device is '{spec}' but {have}; choose 'auto' (a GPU when there is one, else the CPU) or 'cpu'"
        ) from None


def _subset(cohort: Cohort, rows: np.ndarray) -> Cohort:
    """The same cohort restricted to a few subjects (so the dry run never converts the whole cohort)."""
    return Cohort(
        name=cohort.name,
        subject_ids=cohort.subject_ids[rows],
        modalities={
            name: Modality(m.name, m.kind, m.data[rows], list(m.feature_names), m.latents)
            for name, m in cohort.modalities.items()
        },
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _describe(config: Config, name: str) -> str:
    m = config.modalities[name]
    return f"the {m.encoder} encoder (depth {m.depth}, width {m.width}, {m.latents} latents + {m.eta} eta)"


def _count(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def dry_run(
    config: Config, cohort: Cohort, subjects: int = DRY_RUN_SUBJECTS, seed: int | None = None
) -> DryRunReport:
    """Build the model for `cohort` and run one loss + backward pass on `subjects` training subjects, on the CPU.

    The configured device is only checked (it must exist here), never used: the dry run runs inside the
    dashboard's process, which should not claim a GPU. The global random state is left as it was.
    Raises ConfigError or TrainingError with a fix.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed if seed is None else seed)
        return _dry_run(config, cohort, subjects, seed)


def _dry_run(config: Config, cohort: Cohort, subjects: int, seed: int | None) -> DryRunReport:
    import torch

    from crl.core.model import build_model
    from crl.core.nn import build_decoder, build_encoder, model_shape
    from crl.engine.fit import CohortTensors

    validate(config)
    schema = cohort.schema()
    check_schema(config, schema)
    check_encoders(config, schema)
    device = check_device(config.train.device)
    warnings: list[str] = []

    train_rows, _ = cohort.split(config.train.seed, config.train.validation_fraction)
    if len(train_rows) == 0:
        raise TrainingError("the cohort is too small to train on: no subjects are left for training")
    if config.train.batch_size > len(train_rows):
        warnings.append(
            f"the batch size ({config.train.batch_size}) is larger than the {len(train_rows)} training subjects: "
            f"each epoch will be a single step of {len(train_rows)} subjects"
        )
    rows = np.sort(train_rows[: max(2, min(subjects, len(train_rows)))])
    small = _subset(cohort, rows)
    normaliser = small.fit_normaliser(np.arange(len(small)))
    tensors = CohortTensors(small, normaliser, torch.device("cpu"), list(config.modalities))
    batch = tensors.batch(torch.arange(len(small)))

    # Each modality's networks alone first, so a failure names the modality and its setting.
    if config.method != "beta-vae":
        for name, m in config.modalities.items():
            shape = model_shape(m.kind, schema[name]["shape"])
            try:
                encoder = build_encoder(m.encoder, shape, m.latents + m.eta, depth=m.depth, width=m.width)
                decoder = build_decoder(m.encoder, shape, m.latents + m.eta, depth=m.depth, width=m.width)
                with torch.no_grad():
                    mean, _ = encoder(batch[name])
                    out = decoder(mean)
            except CrlError:
                raise
            except (RuntimeError, ValueError) as error:
                raise ConfigError(
                    f"modalities.{name}: {_describe(config, name)} cannot run on data of shape "
                    f"{tuple(schema[name]['shape'])} ({_first_line(error)}); try the default encoder for "
                    f"{m.kind} data or a smaller depth"
                ) from None
            if tuple(out.shape[1:]) != tuple(shape):
                raise ConfigError(
                    f"modalities.{name}: {_describe(config, name)} reconstructs shape {tuple(out.shape[1:])} "
                    f"instead of {tuple(shape)}; choose another depth (0 picks one from the data)"
                )

    started = time.perf_counter()
    try:
        model = build_model(config, schema)
    except CrlError:
        raise
    except (RuntimeError, ValueError) as error:
        raise ConfigError(f"the model cannot be built from these settings: {_first_line(error)}") from None
    build_seconds = time.perf_counter() - started

    parameters = {
        name: _count(model.encoders[name]) + _count(model.decoders[name]) for name in model.encoders
    }
    if config.method == "beta-vae":
        joint = _count(model.joint_body) + _count(model.joint_head) + _count(model.joint_decoder)
        parameters["joint encoder and decoder"] = joint
    parameters["graph"] = _count(model.graph)
    parameters["prior"] = _count(model.prior)
    if sum(parameters.values()) > LARGE_MODEL_PARAMETERS:
        warnings.append(
            f"the model has {sum(parameters.values()):,} weights: training will be slow on a CPU and may not fit "
            "a small GPU; smaller widths train faster"
        )

    generator = torch.Generator().manual_seed(config.train.seed if seed is None else seed)
    model.train()
    try:
        record = model.loss(batch, generator=generator)
        record.total.backward()
    except CrlError:
        raise
    except (RuntimeError, ValueError) as error:
        raise ConfigError(
            f"one training step failed with these settings: {_first_line(error)}; go back to the defaults "
            "(Reset on the Model page) and change one setting at a time"
        ) from None

    terms = record.as_floats()
    bad = [name for name, value in terms.items() if not math.isfinite(value)]
    if bad:
        raise TrainingError(
            f"the loss term(s) {', '.join(bad)} are NaN or infinite on the first batch; check the cohort for "
            "extreme or constant values (the Cohort page lists them) or lower the learning rate"
        )
    if not all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None):
        raise TrainingError(
            "the gradients are NaN or infinite on the first batch although the loss is finite; check the cohort "
            "for extreme values"
        )
    # The first step pays one-off costs (kernel selection, allocations); a second one says what a step costs.
    model.zero_grad(set_to_none=True)
    started = time.perf_counter()
    model.loss(batch, generator=generator).total.backward()
    step_seconds = time.perf_counter() - started

    weights = config.loss
    likelihood_weight = weights.likelihood * (weights.beta if config.method == "beta-vae" else 1.0)
    weighted = {
        "reconstruction": weights.reconstruction * terms["reconstruction"],
        "likelihood": likelihood_weight * terms["likelihood"],
        "sparsity": weights.sparsity * terms["sparsity"],
        "acyclicity": weights.acyclicity * terms["acyclicity"],
    }
    return DryRunReport(
        terms=terms,
        weighted=weighted,
        parameters=parameters,
        subjects=len(small),
        build_seconds=build_seconds,
        step_seconds=step_seconds,
        device=device,
        warnings=warnings,
    )
