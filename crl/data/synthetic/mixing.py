"""Per-modality mixing x = g([z, eta]): a random 3-layer leaky-ReLU MLP, injective and well conditioned."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crl.errors import ConfigError


def random_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random (n, n) orthogonal matrix (QR with the sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def conditioned_matrix(rows: int, cols: int, rng: np.random.Generator, condition: float) -> np.ndarray:
    """A (rows, cols) matrix, rows >= cols, with singular values spread in [1, condition] (full column rank)."""
    if rows < cols:
        raise ConfigError(f"mixing layers must be square or expanding (got {cols} -> {rows})")
    u = random_orthogonal(rows, rng)[:, :cols]
    v = random_orthogonal(cols, rng)
    s = np.geomspace(1.0, condition, cols) if cols > 1 else np.ones(1)
    return (u * rng.permutation(s)) @ v.T


@dataclass
class LeakyMixing:
    """x = W3 · σ(W2 · σ(W1 v + b1) + b2) + b3 with σ = leaky ReLU; v = [z, eta] is `(n, d_in)`, x is `(n, d_out)`.

    Each W has full column rank with singular values in [1, condition] (times a fixed gain), and σ is a
    bijection with slopes in [slope, 1], so g is injective with Jacobian singular values in
    [gain³ · slope², gain³ · condition³]: invertible on its whole domain and never degenerate.
    """

    weights: list[np.ndarray]  # [(d_out, d_in), (d_out, d_out), (d_out, d_out)]
    biases: list[np.ndarray]
    slope: float

    @property
    def d_in(self) -> int:
        return self.weights[0].shape[1]

    @property
    def d_out(self) -> int:
        return self.weights[-1].shape[0]

    def _act(self, h: np.ndarray) -> np.ndarray:
        return np.where(h > 0, h, self.slope * h)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        h = v
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if layer < last:
                h = self._act(h)
        return h

    def jacobian(self, v: np.ndarray) -> np.ndarray:
        """`(n, d_out, d_in)` Jacobians at each row of `v`."""
        n = v.shape[0]
        jac = np.broadcast_to(np.eye(self.d_in), (n, self.d_in, self.d_in)).copy()
        h = v
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            jac = np.einsum("oi,nij->noj", w, jac)
            if layer < last:
                gate = np.where(h > 0, 1.0, self.slope)
                jac = gate[:, :, None] * jac
                h = self._act(h)
        return jac

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Recover `v` from `x` on the image of g (least squares through the expanding first layer)."""
        h = x
        for layer in range(len(self.weights) - 1, -1, -1):
            w, b = self.weights[layer], self.biases[layer]
            h = np.linalg.lstsq(w, (h - b).T, rcond=None)[0].T
            if layer > 0:
                h = np.where(h > 0, h, h / self.slope)
        return h


def random_mixing(
    d_in: int, d_out: int, rng: np.random.Generator, condition: float = 2.0, slope: float = 0.2
) -> LeakyMixing:
    """A random `LeakyMixing` from `d_in` to `d_out` (d_out >= d_in); outputs have roughly unit scale."""
    if d_out < d_in:
        raise ConfigError(
            f"observation dimension {d_out} is smaller than latents + nuisance ({d_in}); "
            "the mixing would not be invertible: raise obs_dim"
        )
    if not 0.0 < slope <= 1.0:
        raise ConfigError(f"leaky slope must lie in (0, 1] (got {slope})")
    if condition < 1.0:
        raise ConfigError(f"condition number must be >= 1 (got {condition})")
    shapes = [(d_out, d_in), (d_out, d_out), (d_out, d_out)]
    # A gain keeps activations O(1): leaky ReLU halves the second moment roughly (1 + slope²) / 2.
    gain = np.sqrt(2.0 / (1.0 + slope**2)) / np.sqrt((1.0 + condition**2) / 2.0)
    weights = [gain * conditioned_matrix(r, c, rng, condition) for r, c in shapes]
    biases = [rng.normal(0.0, 0.1, r) for r, _ in shapes]
    return LeakyMixing(weights=weights, biases=biases, slope=slope)
