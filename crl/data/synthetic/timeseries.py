"""Multichannel oscillations whose amplitude, frequency and baseline are latents; the phase is the nuisance."""

from __future__ import annotations

import numpy as np

CHANNELS = ("channel0", "channel1", "channel2")
# Fixed per-channel gains and phase offsets: each channel sees every latent, differently weighted.
_AMPLITUDE_GAIN = np.array([1.0, 0.6, 1.3])
_BASELINE_GAIN = np.array([1.0, -0.7, 0.4])
_PHASE_OFFSET = np.array([0.0, np.pi / 3, 2 * np.pi / 3])


def signal_parameters(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latents `(n, 3)` = [amplitude, frequency, baseline] -> amplitude (>0), cycles per window, baseline."""
    amplitude = np.exp(0.35 * z[:, 0])
    cycles = 3.0 + 1.5 * np.tanh(z[:, 1] / 1.5)
    baseline = 0.8 * z[:, 2]
    return amplitude, cycles, baseline


def render_signals(
    z: np.ndarray, eta: np.ndarray, rng: np.random.Generator, steps: int = 64, noise: float = 0.1
) -> np.ndarray:
    """Signals `(n, 3, steps)` float32 from latents `(n, 3)` and nuisance phase `(n, 1)`, plus white noise."""
    amplitude, cycles, baseline = signal_parameters(z)
    # Phase kept within (-pi/2, pi/2) so it stays a nuisance the signal determines, not a wrap-around.
    phase = 0.5 * np.pi * np.tanh(eta[:, 0])
    t = np.arange(steps) / steps
    angle = (
        2 * np.pi * cycles[:, None, None] * t[None, None, :]
        + phase[:, None, None]
        + _PHASE_OFFSET[None, :, None]
    )
    x = (
        baseline[:, None, None] * _BASELINE_GAIN[None, :, None]
        + amplitude[:, None, None] * _AMPLITUDE_GAIN[None, :, None] * np.sin(angle)
        + rng.normal(0.0, noise, (len(z), len(CHANNELS), steps))
    )
    return x.astype(np.float32)
