"""Small cohort folders written into a test's tmp_path: valid by default, easy to break one piece at a time."""

from __future__ import annotations

import functools
import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from crl.data.manifest import tomllib

TABULAR, TIMESERIES, IMAGE = "labs", "sleep", "retina"


def subject_ids(n: int) -> list[str]:
    return [f"s{i:03d}" for i in range(n)]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def to_toml(data: dict, prefix: str = "") -> str:
    """A small TOML writer for manifests: scalars first, then one [table] per nested dict."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
            if any(not isinstance(v, dict) for v in value.values()) or not value:
                lines += ["", f"[{name}]"]
            lines.append(to_toml(value, name).rstrip("\n"))
    return "\n".join(lines).strip("\n") + "\n"


def read_manifest_dict(root: Path) -> dict:
    return tomllib.loads((root / "cohort.toml").read_text())


def write_manifest(root: Path, manifest: dict) -> None:
    (root / "cohort.toml").write_text(to_toml(manifest))


def edit_manifest(root: Path, change) -> Path:
    """Apply `change(manifest_dict)` (in place) and write the manifest back."""
    manifest = read_manifest_dict(root)
    change(manifest)
    write_manifest(root, manifest)
    return root


def write_table(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def make_cohort(
    tmp_path: Path,
    *,
    n: int = 40,
    seed: int = 0,
    name: str = "test-cohort",
    tabular: str | None = "csv",
    timeseries: str | None = "npz",
    image: str | None = "png",
    covariates: str | None = None,
    n_features: int = 4,
    n_channels: int = 2,
    length: int = 12,
    image_size: int = 8,
    colour: bool = False,
    folder: str = "cohort",
) -> Path:
    """Write a valid cohort and return its folder.

    tabular: "csv" | "parquet" | None -> modality "labs" (n, n_features).
    timeseries: "npz" | "csv" | "parquet" (long table) | None -> modality "sleep" (n, n_channels, length).
    image: "png" | "jpg" | "npz" | None -> modality "retina" (n, image_size, image_size, 1 or 3 if colour).
    covariates: "csv" | "parquet" | None -> clinical.<ext> with age (number) and sex (text).
    """
    rng = np.random.default_rng(seed)
    root = Path(tmp_path) / folder
    root.mkdir(parents=True, exist_ok=True)
    ids = subject_ids(n)
    manifest: dict[str, Any] = {"name": name, "id": "subject_id", "modalities": {}}

    if tabular:
        frame = pd.DataFrame(rng.normal(size=(n, n_features)), columns=[f"f{j}" for j in range(n_features)])
        frame.insert(0, "subject_id", ids)
        write_table(frame, root / f"{TABULAR}.{tabular}")
        manifest["modalities"][TABULAR] = {"kind": "tabular", "path": f"{TABULAR}.{tabular}", "latents": 2}

    if timeseries:
        values = rng.normal(size=(n, n_channels, length)).astype(np.float32)
        channels = [f"c{k}" for k in range(n_channels)]
        if timeseries == "npz":
            np.savez(
                root / f"{TIMESERIES}.npz", ids=np.asarray(ids), values=values, channels=np.asarray(channels)
            )
        else:
            frame = pd.DataFrame(values.transpose(0, 2, 1).reshape(n * length, n_channels), columns=channels)
            frame.insert(0, "time", np.tile(np.arange(length), n))
            frame.insert(0, "subject_id", np.repeat(ids, length))
            # Shuffled rows: the loader must sort by subject and time itself.
            write_table(frame.sample(frac=1.0, random_state=seed), root / f"{TIMESERIES}.{timeseries}")
        manifest["modalities"][TIMESERIES] = {
            "kind": "timeseries",
            "path": f"{TIMESERIES}.{timeseries}",
            "time": "time",
            "latents": 2,
        }

    if image:
        shape = (n, image_size, image_size, 3) if colour else (n, image_size, image_size)
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        if image == "npz":
            np.savez(root / f"{IMAGE}.npz", ids=np.asarray(ids), images=pixels)
            path = f"{IMAGE}.npz"
        else:
            (root / IMAGE).mkdir(exist_ok=True)
            for subject, array in zip(ids, pixels, strict=True):
                Image.fromarray(array).save(root / IMAGE / f"{subject}.{image}")
            path = IMAGE
        manifest["modalities"][IMAGE] = {"kind": "image", "path": path, "latents": 2}

    if covariates:
        frame = pd.DataFrame(
            {
                "subject_id": ids,
                "age": rng.integers(20, 90, size=n),
                "sex": rng.choice(["F", "M"], size=n),
            }
        )
        write_table(frame, root / f"clinical.{covariates}")
        manifest["covariates"] = {"path": f"clinical.{covariates}"}

    write_manifest(root, manifest)
    return root


@functools.lru_cache(maxsize=8)
def blank_png(width: int, height: int) -> bytes:
    """A valid all-black grey PNG of any size, compressed row by row: 8000x8000 costs about 60 KB, not 64 MB.

    What a hostile upload looks like: a tiny file whose header promises a huge image.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then one zero byte per pixel
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
