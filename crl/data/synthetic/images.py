"""Procedural "variant MNIST": digit-like stroke glyphs rendered with numpy, placed and shaded by latents."""

from __future__ import annotations

import numpy as np

SIZE = 28
HALF = 6.0  # glyph half-size in pixels: the glyph box spans 12 px before stroke width
_WINDOW = 11  # local drawing window radius: covers HALF * max glyph extent + stroke + anti-aliasing
_PAD = 13  # canvas padding so a window never leaves the canvas

# Digit-like polylines in a [-1, 1] box (x right, y down); ten shapes act as the nuisance "which glyph".
_POLYLINES: list[list[list[tuple[float, float]]]] = [
    [[(0, -1), (0.5, -0.7), (0.6, 0), (0.5, 0.7), (0, 1), (-0.5, 0.7), (-0.6, 0), (-0.5, -0.7), (0, -1)]],
    [[(-0.35, -0.65), (0, -1), (0, 1)], [(-0.35, 1), (0.35, 1)]],
    [[(-0.6, -0.6), (-0.2, -1), (0.4, -1), (0.6, -0.6), (-0.6, 1), (0.6, 1)]],
    [[(-0.6, -1), (0.6, -1), (0, -0.1), (0.6, 0.4), (0.3, 1), (-0.6, 1)]],
    [[(0.3, 1), (0.3, -1), (-0.6, 0.3), (0.6, 0.3)]],
    [[(0.6, -1), (-0.5, -1), (-0.6, 0), (0.4, 0), (0.6, 0.5), (0.3, 1), (-0.6, 1)]],
    [[(0.5, -1), (-0.5, 0), (-0.5, 0.8), (0, 1), (0.5, 0.6), (0.4, 0.1), (-0.5, 0.2)]],
    [[(-0.6, -1), (0.6, -1), (-0.2, 1)], [(-0.3, 0), (0.3, 0)]],
    [
        [(0, -1), (0.5, -0.5), (0, 0), (-0.5, -0.5), (0, -1)],
        [(0, 0), (0.6, 0.5), (0, 1), (-0.6, 0.5), (0, 0)],
    ],
    [[(0.5, -0.4), (0, -1), (-0.5, -0.4), (0, 0), (0.5, -0.4), (0.3, 1)]],
]
N_GLYPHS = len(_POLYLINES)


def _segments() -> np.ndarray:
    """`(N_GLYPHS, S, 2, 2)` segment endpoints, padded by repeating the last segment, centred on ink centroid."""
    per_glyph = []
    for lines in _POLYLINES:
        segs = [(a, b) for line in lines for a, b in zip(line[:-1], line[1:], strict=True)]
        per_glyph.append(np.asarray(segs, dtype=np.float64))
    s_max = max(len(s) for s in per_glyph)
    out = np.zeros((N_GLYPHS, s_max, 2, 2))
    for g, segs in enumerate(per_glyph):
        # Centre by the length-weighted midpoint so a glyph's ink centroid sits on its position latent.
        lengths = np.linalg.norm(segs[:, 1] - segs[:, 0], axis=1)
        centroid = (lengths[:, None] * segs.mean(axis=1)).sum(axis=0) / lengths.sum()
        segs = segs - centroid
        out[g, : len(segs)] = segs
        out[g, len(segs) :] = segs[-1]
    return out


SEGMENTS = _segments()


def render_glyphs(
    glyph: np.ndarray, cx: np.ndarray, cy: np.ndarray, thickness: np.ndarray, chunk: int = 1024
) -> np.ndarray:
    """Anti-aliased ink coverage `(n, 28, 28)` in [0, 1] for glyph ids `(n,)` at pixel centres `(n,)`.

    thickness is the stroke half-width in pixels (at most about 2). Each glyph is drawn in a local window around
    its centre and pasted into a padded canvas, which is several times cheaper than touching all 784 pixels.
    """
    n = len(glyph)
    offsets = np.arange(-_WINDOW, _WINDOW + 1, dtype=np.float32)
    side = len(offsets)
    ink = np.zeros((n, SIZE + 2 * _PAD, SIZE + 2 * _PAD), dtype=np.float32)
    cx_int, cy_int = np.floor(cx).astype(int), np.floor(cy).astype(int)
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        b = sl.stop - sl.start
        seg = SEGMENTS[glyph[sl]].astype(np.float32)  # (b, S, 2, 2)
        # Segment endpoints relative to the window's integer origin.
        ax = (cx[sl] - cx_int[sl]).astype(np.float32)[:, None] + HALF * seg[:, :, 0, 0]  # (b, S)
        ay = (cy[sl] - cy_int[sl]).astype(np.float32)[:, None] + HALF * seg[:, :, 0, 1]
        abx = HALF * (seg[:, :, 1, 0] - seg[:, :, 0, 0])
        aby = HALF * (seg[:, :, 1, 1] - seg[:, :, 0, 1])
        inv = 1.0 / np.maximum(abx**2 + aby**2, 1e-6)
        apx = offsets[None, None, None, :] - ax[:, :, None, None]  # (b, S, 1, W)
        apy = offsets[None, None, :, None] - ay[:, :, None, None]  # (b, S, W, 1)
        t = np.clip(
            (apx * abx[..., None, None] + apy * aby[..., None, None]) * inv[..., None, None], 0.0, 1.0
        )
        dx = apx - t * abx[..., None, None]
        dy = apy - t * aby[..., None, None]
        dist = np.sqrt((dx * dx + dy * dy).min(axis=1))  # (b, W, W)
        window = np.clip(thickness[sl, None, None].astype(np.float32) + 0.5 - dist, 0.0, 1.0)
        rows = (cy_int[sl] + _PAD - _WINDOW)[:, None] + np.arange(side)[None, :]
        cols = (cx_int[sl] + _PAD - _WINDOW)[:, None] + np.arange(side)[None, :]
        ink[np.arange(start, start + b)[:, None, None], rows[:, :, None], cols[:, None, :]] = window
    return ink[:, _PAD : _PAD + SIZE, _PAD : _PAD + SIZE].copy()


def position_to_pixels(z: np.ndarray) -> np.ndarray:
    """Position latent -> glyph centre in pixels, squashed so the glyph always stays inside the frame."""
    return SIZE / 2.0 + 5.0 * np.tanh(z / 1.6)


def shade_to_unit(z: np.ndarray, low: float) -> np.ndarray:
    """Appearance latent -> a level in [low, 1] (transparency or brightness)."""
    return low + (1.0 - low) / (1.0 + np.exp(-1.2 * z))


def nuisance_to_style(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Modality-specific eta `(n, 2)` -> (glyph id, stroke half-width in px): shape and thickness."""
    glyph = np.minimum((_normal_cdf(eta[:, 0]) * N_GLYPHS).astype(int), N_GLYPHS - 1)
    thickness = 0.6 + 0.9 * _normal_cdf(eta[:, 1])
    return glyph, thickness


def render_transparency(
    position_z: np.ndarray, alpha_z: np.ndarray, eta: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Modality 1: a white glyph over a gray background at horizontal position, with latent opacity. `(n, 28, 28)` uint8."""
    glyph, thickness = nuisance_to_style(eta)
    cx = position_to_pixels(position_z)
    ink = render_glyphs(glyph, cx, np.full_like(cx, SIZE / 2.0), thickness)
    alpha = shade_to_unit(alpha_z, 0.25)[:, None, None]
    background = 40.0
    image = background + (255.0 - background) * alpha * ink
    return _to_uint8(image, rng)


def render_brightness(
    position_z: np.ndarray, brightness_z: np.ndarray, eta: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Modality 2: a glyph on black at vertical position, its intensity set by the brightness latent."""
    glyph, thickness = nuisance_to_style(eta)
    cy = position_to_pixels(position_z)
    ink = render_glyphs(glyph, np.full_like(cy, SIZE / 2.0), cy, thickness)
    level = 255.0 * shade_to_unit(brightness_z, 0.25)[:, None, None]
    return _to_uint8(level * ink, rng)


def ink_centroid(images: np.ndarray, background: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Intensity-weighted centroid `(x, y)` in pixels of images `(n, H, W)` above `background`."""
    w = np.clip(images.astype(np.float64) - background, 0.0, None)
    total = w.sum(axis=(1, 2)) + 1e-9
    ys, xs = np.mgrid[0 : images.shape[1], 0 : images.shape[2]]
    return (w * xs).sum(axis=(1, 2)) / total, (w * ys).sum(axis=(1, 2)) / total


def _to_uint8(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # A little sensor noise so pixels are not exactly piecewise-constant functions of the latents.
    noisy = image + rng.normal(0.0, 2.0, image.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)
