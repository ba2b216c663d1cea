"""Latent names "<modality>.z<k>" and the modality blocks they form: one spelling for every layer."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from crl.errors import ConfigError, CrlError

LATENT_NAME = re.compile(r"^(?P<modality>.+)\.z(?P<k>\d+)$")


def latent_name(modality: str, k: int) -> str:
    """("labs", 1) -> "labs.z1": the column name in latents.csv and the node name in graph.csv."""
    return f"{modality}.z{k}"


def latent_names(sizes: Mapping[str, int]) -> list[str]:
    """Every latent's name, modality by modality: {"a": 2, "b": 1} -> ["a.z0", "a.z1", "b.z0"]."""
    return [latent_name(modality, k) for modality, count in sizes.items() for k in range(count)]


def split_latent_name(name: str) -> tuple[str, int]:
    """ "labs.z1" -> ("labs", 1)."""
    match = LATENT_NAME.match(name)
    if match is None:
        raise CrlError(f"latent name '{name}' does not follow '<modality>.z<k>' (e.g. 'labs.z0')")
    return match.group("modality"), int(match.group("k"))


def blocks_of(names: Sequence[str]) -> dict[str, list[int]]:
    """Modality -> the positions of its latents in `names`, modalities in order of first appearance."""
    blocks: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        blocks.setdefault(split_latent_name(name)[0], []).append(i)
    return blocks


def make_blocks(names: Sequence[str], sizes: Sequence[int]) -> dict[str, list[int]]:
    """Consecutive latent indices per modality: make_blocks(["a", "b"], [2, 3]) -> {"a": [0, 1], "b": [2, 3, 4]}."""
    blocks, start = {}, 0
    for name, size in zip(names, sizes, strict=True):
        if size < 1:
            raise ConfigError(f"modality '{name}' needs at least one latent (got {size}); set latents >= 1")
        blocks[name] = list(range(start, start + size))
        start += size
    return blocks
