"""Encoders and decoders per modality kind, chosen by family name from a registry.

Every encoder maps a model-layout batch (see `crl.core.nn.layout`) to a Gaussian posterior `(mean, logvar)`, each
`(batch, out_dim)`; every decoder maps `(batch, in_dim)` back to the normalised observation `(batch, *shape)`.
"""

from __future__ import annotations

from torch import nn

from crl.core.nn.image import ConvDecoder, ResNetEncoder
from crl.core.nn.layout import model_shape, normaliser_tensors, to_model_layout
from crl.core.nn.mlp import MLPDecoder, MLPEncoder, mlp
from crl.core.nn.pca import PCADecoder, PCAEncoder, fit_bases
from crl.core.nn.posterior import PosteriorHead
from crl.core.nn.timeseries import CNN1dEncoder, Conv1dDecoder, GRUEncoder
from crl.core.nn.wavelet import WaveletDecoder, WaveletEncoder
from crl.errors import ConfigError

# family -> (encoder class, decoder class, whether the decoder shares the encoder's depth)
REGISTRY: dict[str, tuple[type[nn.Module], type[nn.Module], bool]] = {
    "mlp": (MLPEncoder, MLPDecoder, True),
    "cnn1d": (CNN1dEncoder, Conv1dDecoder, True),
    "gru": (GRUEncoder, Conv1dDecoder, False),
    "resnet": (ResNetEncoder, ConvDecoder, True),
    "pca": (PCAEncoder, PCADecoder, True),
    "wavelet": (WaveletEncoder, WaveletDecoder, True),
}


def _lookup(family: str) -> tuple[type[nn.Module], type[nn.Module], bool]:
    if family not in REGISTRY:
        raise ConfigError(f"unknown encoder family '{family}'; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[family]


def build_encoder(family: str, shape: tuple[int, ...], out_dim: int, depth: int, width: int) -> nn.Module:
    """An encoder for model-layout observations of `shape` giving a posterior over `out_dim` latents."""
    encoder, _, _ = _lookup(family)
    return encoder(tuple(shape), out_dim, depth=depth, width=width)


def build_decoder(family: str, shape: tuple[int, ...], in_dim: int, depth: int, width: int) -> nn.Module:
    """The decoder paired with `family`, mapping `in_dim` latents to observations of `shape`."""
    _, decoder, shares_depth = _lookup(family)
    return decoder(tuple(shape), in_dim, depth=depth if shares_depth else 0, width=width)


__all__ = [
    "REGISTRY",
    "CNN1dEncoder",
    "Conv1dDecoder",
    "ConvDecoder",
    "GRUEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "PCADecoder",
    "PCAEncoder",
    "PosteriorHead",
    "ResNetEncoder",
    "WaveletDecoder",
    "WaveletEncoder",
    "build_decoder",
    "build_encoder",
    "fit_bases",
    "mlp",
    "model_shape",
    "normaliser_tensors",
    "to_model_layout",
]
