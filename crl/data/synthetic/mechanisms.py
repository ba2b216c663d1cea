"""Nonlinear structural mechanisms z_i = f_i(parents) + noise_i, with unit-variance noises and O(1) latents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crl.errors import ConfigError
from crl.graphs.dag import topological_order

NOISES = ("gaussian", "laplace", "uniform", "mixed")


def sample_noise(kind: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance noise of the named family; "mixed" gives each column its own family."""
    if kind == "gaussian":
        return rng.standard_normal(shape)
    if kind == "laplace":
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), shape)
    if kind == "uniform":
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape)
    if kind == "mixed":
        families = ("gaussian", "laplace", "uniform")
        columns = [sample_noise(families[c % 3], shape[:-1], rng) for c in range(shape[-1])]
        return np.stack(columns, axis=-1) if columns else np.zeros(shape)
    raise ConfigError(f"unknown noise '{kind}'; choose one of {', '.join(NOISES)}")


@dataclass
class Mechanism:
    """f(parents) = scale * (w2 · tanh(W1 parents + b1) - centre): a small random MLP, calibrated to unit variance."""

    parents: np.ndarray  # (p,) int indices of the parent latents
    w1: np.ndarray  # (hidden, p)
    b1: np.ndarray  # (hidden,)
    w2: np.ndarray  # (hidden,)
    centre: float = 0.0
    scale: float = 1.0

    def raw(self, z_parents: np.ndarray) -> np.ndarray:
        """(n, p) -> (n,) before calibration."""
        return np.tanh(z_parents @ self.w1.T + self.b1) @ self.w2

    def __call__(self, z_parents: np.ndarray) -> np.ndarray:
        return self.scale * (self.raw(z_parents) - self.centre)


@dataclass
class StructuralModel:
    """The latent SCM: each latent is `sqrt(signal) * f_i(parents) + sqrt(1 - signal) * noise_i` (roots: noise).

    With f_i calibrated to unit variance the latents have variance about 1 whatever the graph depth.
    """

    adjacency: np.ndarray  # (d, d) bool, [source, target]
    mechanisms: dict[int, Mechanism]
    noise: str
    signal: float

    @property
    def order(self) -> list[int]:
        return topological_order(self.adjacency)

    def sample(
        self, n: int, rng: np.random.Generator, do: dict[int, float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw `(z, noise)`, both `(n, d)`; `do` fixes latents to constants (a hard intervention)."""
        d = self.adjacency.shape[0]
        noise = sample_noise(self.noise, (n, d), rng)
        z = np.zeros((n, d))
        for i in self.order:
            if do is not None and i in do:
                z[:, i] = do[i]
            elif i in self.mechanisms:
                m = self.mechanisms[i]
                z[:, i] = np.sqrt(self.signal) * m(z[:, m.parents]) + np.sqrt(1.0 - self.signal) * noise[:, i]
            else:
                z[:, i] = noise[:, i]
        return z, noise


def build_structural_model(
    adjacency: np.ndarray,
    rng: np.random.Generator,
    noise: str = "gaussian",
    signal: float = 0.6,
    hidden: int = 8,
    calibration: int = 4000,
) -> StructuralModel:
    """Random tanh-MLP mechanisms for every latent with parents, calibrated on a sample drawn from `rng`.

    Calibration fixes each f_i's centre and scale once, so the model does not depend on the cohort size.
    `signal` is the share of a child's variance explained by its parents (strong enough for edges to matter).
    """
    if noise not in NOISES:
        raise ConfigError(f"unknown noise '{noise}'; choose one of {', '.join(NOISES)}")
    if not 0.0 < signal < 1.0:
        raise ConfigError(f"signal must lie strictly between 0 and 1 (got {signal})")
    adjacency = np.asarray(adjacency, dtype=bool)
    d = adjacency.shape[0]
    mechanisms: dict[int, Mechanism] = {}
    for i in range(d):
        parents = np.flatnonzero(adjacency[:, i])
        if len(parents) == 0:
            continue
        p = len(parents)
        # Input weights of size ~1.5 put tanh in its curved range for unit-variance inputs: clearly nonlinear,
        # yet monotone enough that each parent keeps a visible effect.
        w1 = rng.normal(0.0, 1.5 / np.sqrt(p), (hidden, p))
        b1 = rng.normal(0.0, 0.5, hidden)
        w2 = rng.normal(0.0, 1.0, hidden)
        mechanisms[i] = Mechanism(parents=parents, w1=w1, b1=b1, w2=w2)
    model = StructuralModel(adjacency=adjacency, mechanisms=mechanisms, noise=noise, signal=signal)

    # Calibrate in causal order so each child sees calibrated parents.
    n = calibration
    calib_noise = sample_noise(noise, (n, d), rng)
    z = np.zeros((n, d))
    for i in model.order:
        if i in mechanisms:
            m = mechanisms[i]
            raw = m.raw(z[:, m.parents])
            m.centre = float(raw.mean())
            sd = float(raw.std())
            m.scale = 1.0 / sd if sd > 1e-8 else 1.0
            z[:, i] = np.sqrt(signal) * m(z[:, m.parents]) + np.sqrt(1.0 - signal) * calib_noise[:, i]
        else:
            z[:, i] = calib_noise[:, i]
    return model
