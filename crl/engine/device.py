"""Which device trains: "auto" picks CUDA when present; the autocast precision for that device."""

from __future__ import annotations

import torch

from crl.errors import TrainingError


def resolve_device(spec: str) -> torch.device:
    """ "auto" -> CUDA when present else CPU; "cuda" / "cuda:N" fail clearly when CUDA is missing."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(
                f"device '{spec}' was requested but this machine has no usable CUDA GPU; use --device cpu"
            )
        device = torch.device(spec)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TrainingError(
                f"device '{spec}' does not exist: this machine has {torch.cuda.device_count()} GPU(s) "
                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
        return device
    if spec == "cpu":
        return torch.device("cpu")
    raise TrainingError(f"unknown device '{spec}'; use auto, cpu, cuda or cuda:N")


def autocast_dtype(device: torch.device, setting: str) -> torch.dtype | None:
    """The autocast dtype for this device and setting, or None for full precision (always None on CPU).

    "auto" is full precision: on an H200, bf16 autocast made training steps 0.71-1.01 times as fast as fp32 for
    these small networks (bench/results/gpu.md: the casts cost more than the narrower arithmetic saves)."""
    if device.type != "cuda" or setting in ("off", "auto"):
        return None
    return torch.float16 if setting == "fp16" else torch.bfloat16


def device_choices() -> list[str]:
    """What the device setting can be on this machine: auto and cpu, plus cuda and each GPU when present."""
    options = ["auto", "cpu"]
    if torch.cuda.is_available():
        options += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return options


def describe_device(setting: str) -> str:
    """The device setting in words, and for "auto" what it picks here, so nobody wonders whether a GPU is used."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return f"auto (this machine's GPU, {torch.cuda.get_device_name(0)})"
    return "auto (the CPU: this machine has no usable GPU)"
