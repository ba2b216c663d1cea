"""Image arrays made displayable: any common layout to (H, W, 3) uint8 and compact PNG data URIs for plotly."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

_CHANNEL_SIZES = (1, 3, 4)


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """One image as `(H, W, 3)` uint8.

    Accepts `(H, W)`, `(H, W, C)` or `(C, H, W)` with C in 1, 3, 4 (alpha dropped). Values are 0-255 (as
    `Normaliser.invert` returns them); anything outside is clipped.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] not in _CHANNEL_SIZES and a.shape[0] in _CHANNEL_SIZES:
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[-1] not in _CHANNEL_SIZES:
        raise ValueError(
            f"an image must be (H, W), (H, W, C) or (C, H, W) with 1, 3 or 4 channels, got {a.shape}"
        )
    a = a[:, :, :3]
    if a.dtype != np.uint8:
        a = np.clip(np.rint(np.nan_to_num(a.astype(np.float64))), 0, 255).astype(np.uint8)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return a


def image_stack(images: np.ndarray) -> np.ndarray:
    """A batch of images `(n, H, W[, C])` or `(n, C, H, W)` as `(n, H, W, 3)` uint8."""
    a = np.asarray(images)
    if a.ndim not in (3, 4):
        raise ValueError(f"images must be (n, H, W), (n, H, W, C) or (n, C, H, W), got shape {a.shape}")
    return np.stack([to_rgb_uint8(x) for x in a]) if len(a) else np.zeros((0, 1, 1, 3), np.uint8)


def png_data_uri(image: np.ndarray) -> str:
    """A PNG data URI for `go.Image(source=...)`: far smaller in the figure JSON than a pixel list."""
    buffer = io.BytesIO()
    Image.fromarray(to_rgb_uint8(image)).save(buffer, format="PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
