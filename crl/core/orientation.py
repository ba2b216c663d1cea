"""Reflecting latents: z_i and -z_i describe the data equally well, so a trained model can be turned to either.

A latent's sign is arbitrary after training; crl.engine.orientation picks the readable one. Reflection is
baked into the weights (the encoder's mean head, the decoder's first layer, the prior's flows and the imputers
of modalities some subjects lack), so what the model computes is unchanged and its saved files keep their
layout. With a modality rotation R, reflecting z inside the rotated frame is the orthogonal map M = R^T D R in
the encoder's own frame (D the diagonal of signs). A model with block unmixing (crl.core.unmix) reflects its
unmixing matrices instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from crl.core.model import CRLModel
from crl.core.nn.posterior import PosteriorHead


def _posterior_head(module: nn.Module) -> PosteriorHead:
    """The one PosteriorHead every encoder ends with."""
    heads = [m for m in module.modules() if isinstance(m, PosteriorHead)]
    if len(heads) != 1:
        raise TypeError(f"expected one PosteriorHead in {type(module).__name__}, found {len(heads)}")
    return heads[0]


def _first_linear(module: nn.Module, in_features: int) -> nn.Linear:
    """The decoder's input layer: its first nn.Linear, which must read the whole [z, eta] vector."""
    layer = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
    if layer is None or layer.in_features != in_features:
        raise TypeError(
            f"{type(module).__name__} does not start with a Linear layer over {in_features} inputs"
        )
    return layer


def _mix(head: PosteriorHead, decoder_input: nn.Linear, mixing: torch.Tensor) -> None:
    """Encoder mean -> mixing @ mean; decoder input x -> x @ mixing (mixing is symmetric and its own inverse)."""
    mixing = mixing.to(head.mean.weight)
    head.mean.weight.copy_(mixing @ head.mean.weight)
    head.mean.bias.copy_(mixing @ head.mean.bias)
    decoder_input.weight.copy_(decoder_input.weight @ mixing.to(decoder_input.weight))


@torch.no_grad()
def reflect_latents(model: CRLModel, signs: Sequence[float] | torch.Tensor) -> None:
    """Turn `model` in place so its latents become `signs * z` (one +-1 per latent, in model.latent_names order)."""
    device = next(
        model.parameters()
    ).device  # every tensor made here lives with the model (no default device)
    signs = torch.as_tensor(signs, dtype=torch.float64, device=device).sign()
    if signs.numel() != model.n_latent or bool((signs == 0).any()):
        raise ValueError(f"need one sign of +1 or -1 per latent ({model.n_latent}), got {signs.tolist()}")
    if bool((signs > 0).all()):
        return
    if model.method == "beta-vae":
        total = model.n_latent + model.n_eta
        eta_signs = torch.ones(model.n_eta, dtype=torch.float64, device=device)
        _mix(
            model.joint_head,
            _first_linear(model.joint_decoder, total),
            torch.diag(torch.cat([signs, eta_signs])),
        )
    else:
        start = 0
        for name in model.names:
            k, e = model.latent_sizes[name], model.eta_sizes[name]
            own = signs[start : start + k]
            start += k
            if bool((own > 0).all()):
                continue
            if model.unmixing is not None:
                # z = z_encoder @ M, so the reflected latents are z_encoder @ (M D): the encoder stays as it is.
                model.unmixing.compose(name, torch.diag(own))
                continue
            mixing = torch.diag(torch.cat([own, torch.ones(e, dtype=torch.float64, device=device)]))
            if name in model.rotations:
                rotation = model.rotation(name).double()
                mixing = rotation.T @ mixing @ rotation
            _mix(_posterior_head(model.encoders[name]), _first_linear(model.decoders[name], k + e), mixing)
    if model.prior is not None:
        model.prior.reflect(signs.to(torch.float32))
    if model.unmixing is not None:
        return  # the imputers read and give latents before the unmixing, which took the reflection
    # An imputer reads the other modalities' latents and gives its own: both sides turn with them.
    blocks = torch.split(signs, [model.latent_sizes[n] for n in model.names])
    for j, name in enumerate(model.names):
        if name in model.imputers:
            others = torch.cat([b for i, b in enumerate(blocks) if i != j])
            model.imputers[name].reflect(others, blocks[j])
