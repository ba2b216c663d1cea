"""Procedural colour fundus photographs: background, optic disc and cup, macula and a branching vessel tree.

Three latents shape an eye: vessel calibre (vessel width), vessel tortuosity (how much vessels wiggle) and the
cup-to-disc ratio (size of the pale cup inside the optic disc). The nuisance η changes only the photograph:
illumination, fundus pigmentation (background tone), a small rotation and offset of the eye in the camera
field, plus camera noise and the per-eye layout of the branches. Geometry is computed in "eye units" (the
field-of-view radius is 1, x to the viewer's right, y down) for a right eye and mirrored for a left eye, whose
optic disc sits on the viewer's left as in a real photograph.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import expit, ndtr

SIZE = 64
CHANNELS = ("R", "G", "B")
_CENTRE = (SIZE - 1) / 2.0
_RADIUS = SIZE / 2.0 - 1.5  # field-of-view radius in pixels
_DISC = np.array([0.47, -0.02])  # optic disc centre of a right eye, eye units
_MACULA = np.array([-0.04, 0.03])
_DISC_RADIUS = 0.165
_WINDOW = 3  # splat half-width in pixels: 2 sigma of the widest vessel (calibre +3 SD)

# Colours (RGB, 0-255): a light "blond" fundus and a heavily pigmented one; pigmentation η blends them.
_LIGHT_FUNDUS = np.array([226.0, 116.0, 54.0], dtype=np.float32)
_DARK_FUNDUS = np.array([146.0, 58.0, 30.0], dtype=np.float32)
_DISC_COLOUR = np.array([236.0, 150.0, 92.0], dtype=np.float32)
_CUP_COLOUR = np.array([254.0, 240.0, 206.0], dtype=np.float32)
_VEIN_COLOUR = np.array([112.0, 22.0, 18.0], dtype=np.float32)
_ARTERY_COLOUR = np.array([176.0, 44.0, 26.0], dtype=np.float32)


def calibre_to_width(z: np.ndarray) -> np.ndarray:
    """Vessel calibre latent -> width multiplier (1 = typical; about 0.65 to 1.55 over ±2 SD)."""
    return np.exp(0.22 * z)


def tortuosity_to_amplitude(z: np.ndarray) -> np.ndarray:
    """Tortuosity latent -> wiggle amplitude in pixels (about 0.2 to 1.4 over ±2 SD)."""
    return 0.5 * np.exp(0.5 * z)


def cup_to_disc(z: np.ndarray) -> np.ndarray:
    """Cup latent -> cup-to-disc ratio in (0.2, 0.8): 0.3-0.4 is typical, above 0.6 suggests glaucoma."""
    return 0.2 + 0.6 * ndtr(0.8 * z)


def render_fundus(
    calibre: np.ndarray,
    tortuosity: np.ndarray,
    cup: np.ndarray,
    eta: np.ndarray,
    side: str,
    rng: np.random.Generator,
    chunk: int = 128,
) -> np.ndarray:
    """Fundus photographs `(n, 64, 64, 3)` uint8 of one eye (`side` "left" or "right").

    calibre, tortuosity, cup: latents `(n,)`. eta `(n, 6)`, standard normal: illumination, pigmentation,
    rotation, horizontal offset, vertical offset, camera noise level. rng draws the branch layout and the
    noise itself.
    """
    n = len(calibre)
    mirror = -1.0 if side == "left" else 1.0
    width = calibre_to_width(np.asarray(calibre, dtype=np.float64))
    amplitude = tortuosity_to_amplitude(np.asarray(tortuosity, dtype=np.float64))
    ratio = cup_to_disc(np.asarray(cup, dtype=np.float64))
    angle = np.deg2rad(5.0) * eta[:, 2]
    offset = 1.6 * eta[:, 3:5] / _RADIUS  # pixels -> eye units
    points, sigma, step, is_vein = _vessel_tree(n, width, amplitude, rng)
    texture = _choroid_texture(n, rng)
    gradient = rng.normal(0.0, 1.0, (n, 2))  # direction of uneven illumination
    out = np.empty((n, SIZE, SIZE, 3), dtype=np.uint8)
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        out[sl] = _compose(
            points[sl],
            sigma[sl],
            step[sl],
            is_vein,
            ratio[sl],
            eta[sl],
            angle[sl],
            offset[sl],
            mirror,
            texture[sl],
            gradient[sl],
            rng,
        )
    return out


# ------------------------------------------------------------------------------------------ the vessel tree


def _arc(n: int, rng: np.random.Generator, height: float, down: bool, m: int) -> np.ndarray:
    """`(n, m, 2)` points of an arcade: leaves the disc vertically, arches over (or under) the macula at
    `height` and runs on, slowly converging, to the temporal edge."""
    t = np.linspace(0.0, 1.0, m)[None, :]
    top = rng.uniform(0.3, 0.45, (n, 1))
    h = height * rng.uniform(0.88, 1.12, (n, 1))
    length = rng.uniform(1.25, 1.45, (n, 1))
    rise = np.sin(0.5 * np.pi * np.minimum(t / top, 1.0))
    settle = 1.0 - 0.3 * np.clip((t - top) / (1.0 - top), 0.0, 1.0) ** 1.5
    x = _DISC[0] - length * t**1.3
    y = _DISC[1] + (1.0 if down else -1.0) * h * rise * settle
    return np.stack([x, np.broadcast_to(y, x.shape)], axis=-1)


def _ray(
    start: np.ndarray, direction: np.ndarray, length: np.ndarray, bend: np.ndarray, m: int
) -> np.ndarray:
    """`(n, m, 2)` points of a gently curved vessel from `start` `(n, 2)` along unit `direction` `(n, 2)`."""
    t = np.linspace(0.0, 1.0, m)[None, :, None]
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=-1)
    along = start[:, None, :] + t * length[:, None, None] * direction[:, None, :]
    return along + (bend[:, None, None] * t**2) * normal[:, None, :]


def _unit(angle: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def _vessel_tree(
    n: int, width: np.ndarray, amplitude: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-eye vessel centre lines in eye units with their widths.

    Returns points `(n, P, 2)`, Gaussian profile sigma in pixels `(n, P)` and a vein flag `(P,)`. Every subject
    has the same vessels and points per vessel (so arrays stack); their shapes and branch sites are random.
    """
    vessels: list[tuple[np.ndarray, float, bool]] = []  # (points (n, m, 2), base sigma px, is vein)
    arcs = []
    for down in (False, True):
        for vein, height in ((True, 0.48), (False, 0.42)):
            pts = _arc(n, rng, height, down, 110)
            vessels.append((pts, 0.8 if vein else 0.6, vein))
            arcs.append((pts, vein, down))
    disc = np.broadcast_to(_DISC, (n, 2))
    for down in (False, True):
        sign = 1.0 if down else -1.0
        for vein, base in ((True, 0.5), (False, 0.72)):
            direction = _unit(sign * (base + rng.uniform(-0.15, 0.15, n)))
            length = rng.uniform(0.45, 0.6, n)
            vessels.append(
                (_ray(disc, direction, length, rng.normal(0, 0.08, n), 32), 0.75 if vein else 0.6, vein)
            )
        # a thinner vessel straight up or down from the disc
        direction = _unit(sign * (np.pi / 2 + rng.uniform(-0.2, 0.2, n)))
        vessels.append(
            (_ray(disc, direction, rng.uniform(0.35, 0.5, n), rng.normal(0, 0.1, n), 24), 0.55, down)
        )

    # Branches leave each arcade outwards (away from the macula), plus one small branch towards the macula.
    rows = np.arange(n)
    for pts, vein, _down in arcs:
        m = pts.shape[1]
        for k, (low, high, inward) in enumerate(
            ((0.22, 0.4, False), (0.45, 0.62, False), (0.68, 0.88, False), (0.3, 0.7, True))
        ):
            at = (rng.uniform(low, high, n) * (m - 2)).astype(int)
            start = pts[rows, at]
            tangent = pts[rows, at + 1] - start
            tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
            towards = _MACULA[None, :] - start
            normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=-1)
            facing = np.sign((normal * towards).sum(axis=1, keepdims=True))
            normal = normal * (facing if inward else -facing)
            spread = rng.uniform(0.35, 0.75, (n, 1))
            direction = normal * np.sin(spread) + tangent * np.cos(spread) * (0.4 if inward else 1.0)
            direction /= np.linalg.norm(direction, axis=1, keepdims=True)
            length = rng.uniform(0.1, 0.18, n) if inward else rng.uniform(0.18, 0.34, n) * (1.0 - 0.12 * k)
            sigma = (0.5 if inward else 0.62) * (1.0 if vein else 0.85)
            vessels.append((_ray(start, direction, length, rng.normal(0, 0.05, n), 24), sigma, vein))

    points, sigmas, steps, veins = [], [], [], []
    for pts, base, vein in vessels:
        m = pts.shape[1]
        wiggled = _wiggle(pts, amplitude, rng)
        taper = np.linspace(1.0, 0.6, m)[None, :]
        points.append(wiggled)
        sigmas.append(base * taper * width[:, None])
        steps.append(_spacing(wiggled) * _RADIUS)
        veins.append(np.full(m, vein))
    return (
        np.concatenate(points, axis=1),
        np.concatenate(sigmas, axis=1),
        np.concatenate(steps, axis=1),
        np.concatenate(veins),
    )


def _spacing(pts: np.ndarray) -> np.ndarray:
    """`(n, m)` length of centre line each point stands for (half the gap to each neighbour)."""
    gap = np.linalg.norm(np.diff(pts, axis=1), axis=-1)
    return 0.5 * (np.concatenate([gap[:, :1], gap], axis=1) + np.concatenate([gap, gap[:, -1:]], axis=1))


def _wiggle(pts: np.ndarray, amplitude: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Displace a centre line `(n, m, 2)` sideways by a wave whose size is the tortuosity (zero at its start)."""
    n, m, _ = pts.shape
    step = np.linalg.norm(np.diff(pts, axis=1), axis=-1) * _RADIUS  # pixels
    s = np.concatenate([np.zeros((n, 1)), np.cumsum(step, axis=1)], axis=1)
    tangent = np.gradient(pts, axis=1)
    tangent /= np.linalg.norm(tangent, axis=-1, keepdims=True) + 1e-12
    normal = np.stack([-tangent[..., 1], tangent[..., 0]], axis=-1)
    wavelength = rng.uniform(6.5, 10.0, (n, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (n, 2))
    wave = np.sin(2 * np.pi * s / wavelength + phase[:, :1]) + 0.35 * np.sin(
        2 * np.pi * s / (0.47 * wavelength) + phase[:, 1:]
    )
    ramp = np.clip(s / 3.0, 0.0, 1.0)  # a branch stays attached to its parent
    shift = (amplitude[:, None] * ramp * wave / _RADIUS)[..., None]
    return pts + shift * normal


# ------------------------------------------------------------------------------------------ composing


def _choroid_texture(n: int, rng: np.random.Generator) -> np.ndarray:
    """`(n, 64, 64)` smooth multiplicative mottling around 1 (the choroid seen through the retina)."""
    coarse = rng.normal(0.0, 1.0, (n, 9, 9)).astype(np.float32)
    return 1.0 + 0.045 * np.einsum("ij,njk,lk->nil", _UPSAMPLE, coarse, _UPSAMPLE, optimize=True)


def _upsample_matrix(size: int, coarse: int) -> np.ndarray:
    """`(size, coarse)` rows of normalised Gaussian weights: smooth interpolation of a coarse grid."""
    centres = (np.arange(coarse) + 0.5) * size / coarse - 0.5
    w = np.exp(-(((np.arange(size)[:, None] - centres[None, :]) / (0.8 * size / coarse)) ** 2))
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


_UPSAMPLE = _upsample_matrix(SIZE, 9)
_YY, _XX = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
_R = np.hypot(_XX - _CENTRE, _YY - _CENTRE) / _RADIUS  # (64, 64) distance from the camera axis
_PAD = _WINDOW + 1
_CANVAS = SIZE + 2 * _PAD


def _splat(points_px: np.ndarray, sigma: np.ndarray, step: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Line density `(b, 2, 64, 64)` of vessel centre lines `(b, p, 2)`: Gaussian splats weighted by spacing.

    Summed along a line, the splats give a Gaussian cross profile of peak about 1 whatever the width, so
    overlapping vessels add up and the caller saturates the sum. The Gaussian is separable, and a padded
    canvas spares bounds checks.
    """
    b, p, _ = points_px.shape
    xy = points_px.astype(np.float32)
    keep = ((xy > -_WINDOW) & (xy < SIZE - 1 + _WINDOW)).all(axis=-1)
    xy = np.where(keep[..., None], xy, 0.0).astype(np.float32)
    sigma = sigma.astype(np.float32)
    weight = np.where(keep, step / (np.sqrt(2 * np.pi) * sigma), 0.0).astype(np.float32)
    base = np.floor(xy).astype(np.int64)
    offsets = np.arange(-_WINDOW, _WINDOW + 1)
    scale = (-0.5 / sigma**2)[..., None]
    gx = np.exp(scale * (base[..., 0, None] + offsets - xy[..., 0, None]) ** 2)  # (b, p, w)
    gy = np.exp(scale * (base[..., 1, None] + offsets - xy[..., 1, None]) ** 2) * weight[..., None]
    value = gy[..., :, None] * gx[..., None, :]  # (b, p, w, w): rows y, columns x
    start = ((np.arange(b)[:, None] * 2 + layer[None, :]) * _CANVAS + base[..., 1] + _PAD) * _CANVAS
    start = start + base[..., 0] + _PAD
    grid = (offsets[:, None] * _CANVAS + offsets[None, :]).ravel()
    flat = (start[..., None] + grid).ravel()
    total = np.bincount(flat, weights=value.ravel(), minlength=b * 2 * _CANVAS * _CANVAS)
    canvas = total.reshape(b, 2, _CANVAS, _CANVAS)
    return canvas[:, :, _PAD : _PAD + SIZE, _PAD : _PAD + SIZE].astype(np.float32)


def _compose(
    points, sigma, step, is_vein, ratio, eta, angle, offset, mirror, texture, gradient, rng
) -> np.ndarray:
    b = len(points)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]

    def place(xy: np.ndarray) -> np.ndarray:
        """Right-eye eye units `(b, ..., 2)` -> pixel coordinates of this eye, rotated and offset."""
        x, y = mirror * xy[..., 0], xy[..., 1]
        shape = (b,) + (1,) * (x.ndim - 1)
        c, s = cos.reshape(shape), sin.reshape(shape)
        xr, yr = c * x - s * y + offset[:, 0].reshape(shape), s * x + c * y + offset[:, 1].reshape(shape)
        return np.stack([_CENTRE + _RADIUS * xr, _CENTRE + _RADIUS * yr], axis=-1).astype(np.float32)

    yy, xx, r = _YY, _XX, _R

    pigment = ndtr(eta[:, 1])[:, None, None, None].astype(np.float32)
    tone = (1 - pigment) * _LIGHT_FUNDUS + pigment * _DARK_FUNDUS  # (b, 1, 1, 3)
    vignette = 1.0 - 0.5 * r**2.4
    g = gradient / (np.linalg.norm(gradient, axis=1, keepdims=True) + 1e-9)
    tilt = 1.0 + 0.1 * (g[:, 0, None, None] * (xx - _CENTRE) + g[:, 1, None, None] * (yy - _CENTRE)) / _RADIUS
    image = tone * (vignette * tilt * texture)[..., None]

    disc_px = place(np.broadcast_to(_DISC, (b, 2)))
    macula_px = place(np.broadcast_to(_MACULA, (b, 2)))
    dxm = xx[None] - macula_px[:, 0, None, None]
    dym = yy[None] - macula_px[:, 1, None, None]
    macula = np.exp(-(dxm**2 + dym**2) / (2 * (0.15 * _RADIUS) ** 2))
    image *= (1.0 - 0.38 * macula)[..., None]
    fovea = np.exp(-(dxm**2 + dym**2) / (2 * 0.55**2))
    image += 28.0 * fovea[..., None]
    # a faint glow round the disc (the nerve fibre layer reflects more light there)
    dxd = xx[None] - disc_px[:, 0, None, None]
    dyd = yy[None] - disc_px[:, 1, None, None]
    glow = np.exp(-(dxd**2 + (dyd / 1.2) ** 2) / (2 * (0.3 * _RADIUS) ** 2))
    image *= (1.0 + 0.12 * glow)[..., None]

    disc_r = np.float32(_DISC_RADIUS * _RADIUS)
    ratio = ratio.astype(np.float32)
    ellipse = np.sqrt(dxd**2 + (dyd / 1.12) ** 2)
    disc = expit((disc_r - ellipse) / 0.45)
    cup = expit((ratio[:, None, None] * disc_r - 0.35 - ellipse) / 0.4)
    image = image * (1 - disc[..., None]) + _DISC_COLOUR * disc[..., None]
    image = image * (1 - 0.85 * cup[..., None]) + _CUP_COLOUR * 0.85 * cup[..., None]

    density = _splat(place(points), sigma, step, (~is_vein).astype(np.int64))
    # vessels look paler where they cross the disc, and nearly vanish into the pale cup they leave from
    on_disc = (1.0 - 0.5 * disc - 0.42 * cup)[..., None]
    vein = (1.0 - np.exp(-1.6 * density[:, 0]))[..., None] * 0.88 * on_disc
    artery = (1.0 - np.exp(-1.6 * density[:, 1]))[..., None] * 0.78 * on_disc
    image = image * (1 - vein) + _VEIN_COLOUR * (0.8 + 0.2 * tone / _LIGHT_FUNDUS) * vein
    image = image * (1 - artery) + _ARTERY_COLOUR * artery

    gain = np.exp(0.13 * eta[:, 0])[:, None, None, None].astype(np.float32)
    field = np.clip((_RADIUS + 0.5 - r * _RADIUS) / 1.0, 0.0, 1.0)[None, ..., None]
    image = image * gain * field
    noise = (0.3 + 1.2 * ndtr(eta[:, 5]) ** 2)[:, None, None, None].astype(np.float32)
    image = image + rng.standard_normal(image.shape, dtype=np.float32) * noise * field
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ artefacts


def blur(images: np.ndarray, sigma: float = 1.1) -> np.ndarray:
    """Out-of-focus photographs: a Gaussian blur of `(k, H, W, 3)` uint8 images."""
    out = gaussian_filter(images.astype(np.float64), sigma=(0, sigma, sigma, 0))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def darken(images: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Under-exposed photographs: brightness times `gain` `(k,)` (about 0.4-0.6)."""
    out = images.astype(np.float64) * gain[:, None, None, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def dust(images: np.ndarray, rng: np.random.Generator, specks: int = 3) -> np.ndarray:
    """Dust on the camera optics: up to `specks` soft grey-dark spots per image, inside the field of view."""
    k = len(images)
    out = images.astype(np.float64)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    count = rng.integers(1, specks + 1, k)
    for j in range(specks):
        present = (j < count)[:, None, None]
        radius = rng.uniform(0.0, 0.75, k) * _RADIUS
        angle = rng.uniform(0.0, 2 * np.pi, k)
        cx, cy = _CENTRE + radius * np.cos(angle), _CENTRE + radius * np.sin(angle)
        size = rng.uniform(0.9, 1.8, k)[:, None, None]
        spot = np.exp(-((xx - cx[:, None, None]) ** 2 + (yy - cy[:, None, None]) ** 2) / (2 * size**2))
        strength = rng.uniform(0.3, 0.55, k)[:, None, None]
        out *= (1.0 - present * strength * spot)[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
