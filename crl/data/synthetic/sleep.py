"""Home sleep test recordings: heart rate, SpO2, actigraphy and snoring over three nights in 10-minute epochs.

Three latents drive a recording: apnea severity (how many breathing events a night: each one dips the blood
oxygen saturation, ends a snoring burst and nudges heart rate and movement), sleep fragmentation (how often
the sleeper wakes and moves: actigraphy bursts and a more variable heart rate) and resting heart rate (the
level of the nightly heart rate). The nuisance η is the pulse oximeter's baseline, the sleeper's timing (when
heart rate bottoms out in the night) and the snoring microphone's gain; nights differ at random as real
nights do.
"""

from __future__ import annotations

import numpy as np

CHANNELS = ("heart_rate", "spo2", "actigraphy", "snoring")
UNITS = {
    "heart_rate": "beats per minute, mean of the epoch",
    "spo2": "% blood oxygen saturation, mean of the epoch",
    "actigraphy": "wrist movement counts in the epoch",
    "snoring": "dB, mean sound level of the epoch",
}
# What cohort.toml calls each channel on screen, and its unit (short: the long form is in UNITS).
LABELS = {
    "heart_rate": {"label": "Heart rate", "unit": "bpm"},
    "spo2": {"label": "Blood oxygen, SpO2", "unit": "%"},
    "actigraphy": {"label": "Wrist movement", "unit": "counts"},
    "snoring": {"label": "Snoring", "unit": "dB"},
}
TIME_STEP = "10 min"  # one epoch
NIGHTS = 3
EPOCHS_PER_NIGHT = 48  # 8 hours of 10-minute epochs
STEPS = NIGHTS * EPOCHS_PER_NIGHT


def events_per_hour(apnea: np.ndarray) -> np.ndarray:
    """Apnea latent -> expected apnea-hypopnea index (events per hour; 5 / 15 / 30 mark mild / moderate / severe)."""
    return 4.0 * np.exp(0.8 * apnea)


def arousals_per_hour(fragmentation: np.ndarray) -> np.ndarray:
    """Fragmentation latent -> expected movement arousals per hour."""
    return 1.5 * np.exp(0.6 * fragmentation)


def nightly_heart_rate(resting: np.ndarray) -> np.ndarray:
    """Resting heart rate latent -> the nightly heart rate level in bpm (about 47 to 73 over ±2 SD)."""
    return 60.0 + 6.5 * resting


def render_sleep(
    apnea: np.ndarray,
    fragmentation: np.ndarray,
    resting: np.ndarray,
    eta: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Recordings `(n, 4, 144)` float32: channels `CHANNELS`, three nights of 48 epochs one after the other.

    apnea, fragmentation, resting: latents `(n,)`. eta `(n, 3)`, standard normal: oximeter baseline, timing of
    the night, microphone gain. Values are rounded to what a device reports (0.1 bpm, 0.1 %, whole counts,
    0.1 dB).
    """
    n = len(apnea)
    hours = (np.arange(EPOCHS_PER_NIGHT) + 0.5) / 6.0  # (48,)
    night_shift = rng.normal(0.0, 0.25, (n, NIGHTS, 1))  # hours: nights do not start alike
    # REM sleep comes in cycles of about 90 minutes that lengthen towards morning; apneas cluster there.
    rem = np.clip(np.sin(2 * np.pi * (hours - 1.0 - night_shift) / 1.5), 0.0, 1.0) ** 2 * (
        0.4 + 0.6 * hours / 8
    )
    apnea_weight = 0.6 + 1.2 * rem
    apnea_weight /= apnea_weight.mean(axis=-1, keepdims=True)

    night_factor = np.exp(0.2 * rng.standard_normal((n, NIGHTS, 1)))  # night-to-night variability
    rate = events_per_hour(apnea)[:, None, None] * night_factor * apnea_weight / 6.0
    events = rng.poisson(rate)  # (n, nights, 48) apneas per epoch
    arousal_rate = arousals_per_hour(fragmentation)[:, None, None] * np.exp(
        0.25 * rng.standard_normal((n, NIGHTS, 1))
    )
    bursts = rng.poisson(np.broadcast_to(arousal_rate / 6.0, events.shape))

    baseline = np.clip(96.2 + 0.9 * eta[:, 0], 93.0, 98.8)[:, None, None]
    depth = 0.55 * np.exp(0.15 * apnea)[:, None, None]  # severe apnea desaturates deeper per event
    spo2 = baseline - depth * events - 0.3 * rem + rng.normal(0.0, 0.2, events.shape)
    spo2 = np.clip(spo2, 70.0, 100.0)

    dip_hour = 3.5 + 0.8 * eta[:, 1, None, None] + night_shift
    dip = np.exp(-(((hours - dip_hour) / 2.2) ** 2))
    variability = 0.8 + 0.6 * np.logaddexp(0.0, fragmentation)[:, None, None]
    heart = (
        nightly_heart_rate(resting)[:, None, None] * (1.0 - 0.07 * dip)
        + 6.0 * bursts
        + 0.9 * events
        + 1.5 * rem
        + variability * rng.standard_normal(events.shape)
    )
    heart = np.clip(heart, 35.0, 160.0)

    movement = 4.0 + rng.gamma(1.5, 2.0, events.shape) + 3.0 * events
    movement += bursts * rng.uniform(40.0, 90.0, events.shape)
    onset = np.zeros(EPOCHS_PER_NIGHT)
    onset[[0, 1, -1]] = [80.0, 35.0, 60.0]  # falling asleep and waking up
    movement += onset * rng.uniform(0.5, 1.5, events.shape)

    microphone = 1.5 * eta[:, 2, None, None]
    snoring_share = 1.0 / (
        1.0 + np.exp(-(0.9 * apnea[:, None, None] - 0.4 + 0.5 * rng.standard_normal((n, NIGHTS, 1))))
    )
    snoring = (
        33.0 + microphone + 20.0 * snoring_share * (0.75 + 0.25 * rem) + 9.0 * (1.0 - np.exp(-events / 3.0))
    )  # loud snorts end apneas
    snoring = snoring + rng.normal(0.0, 1.2, events.shape)

    out = np.stack(
        [np.round(heart, 1), np.round(spo2, 1), np.round(movement), np.round(snoring, 1)], axis=1
    )  # (n, 4, nights, 48)
    return out.reshape(n, len(CHANNELS), STEPS).astype(np.float32)


def flatline_night(values: np.ndarray, subjects: np.ndarray, nights: np.ndarray) -> None:
    """In place: night `nights[k]` of subject `subjects[k]` becomes a flat line at that subject's median of the
    other nights, per channel (the lower median, so a value the device could report). This is how the
    recording is exported when the device failed that night."""
    for subject, night in zip(subjects, nights, strict=True):
        span = slice(night * EPOCHS_PER_NIGHT, (night + 1) * EPOCHS_PER_NIGHT)
        other = np.delete(values[subject], np.arange(span.start, span.stop), axis=-1)
        values[subject, :, span] = np.quantile(other, 0.5, axis=-1, method="lower")[:, None]
