"""The whole network: per-modality variational encoders and decoders, the latent graph and the causal prior.

Training objective (docs/method.md §3-4): a negative ELBO whose KL term is estimated by sampling,
`E_q[log q(z, eta | x) - log p(z) - log N(eta)]`, with p(z) the graph-gated flow prior, so shrinking the latents
buys nothing; plus the paper's cross-modal sparsity and an acyclicity penalty. For a subject lacking a modality
(the batch's PRESENT mask), that modality's reconstruction term is left out, its eta posterior is the prior and
its z posterior comes from an imputer of the subject's other modalities (docs/method.md §3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from crl.config import Config
from crl.core.latent_graph import LatentGraph
from crl.core.nn import build_decoder, build_encoder, mlp, model_shape
from crl.core.nn.imputer import Imputer
from crl.core.nn.posterior import PosteriorHead
from crl.core.prior import LOG_SQRT_2PI, CausalFlowPrior, standard_normal_log_prob

# Subjects per step used to measure each edge's effect on the likelihood (bounds the cost for large graphs).
EDGE_EFFECT_BATCH = 256
# The calibrated noise model's variance floor (normalised units): a perfect fit must not divide by zero.
MIN_NOISE_VARIANCE = 1e-4
# The batch entry `(batch, modalities)` bool, in model order, saying which subjects have which modality; only
# batches of a cohort where some subject lacks a modality carry it (crl.engine.tensors).
PRESENT = "__present__"


@dataclass
class LossRecord:
    """Every term of the loss as a scalar tensor; `total` is what is minimised."""

    reconstruction: dict[str, torch.Tensor]
    reconstruction_total: torch.Tensor
    likelihood: torch.Tensor
    sparsity: torch.Tensor
    acyclicity: torch.Tensor
    total: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def terms(self) -> dict[str, torch.Tensor]:
        """Name -> scalar tensor, names as logged in metrics.jsonl."""
        out = {f"reconstruction.{name}": value for name, value in self.reconstruction.items()}
        out.update(
            reconstruction=self.reconstruction_total,
            likelihood=self.likelihood,
            sparsity=self.sparsity,
            acyclicity=self.acyclicity,
            total=self.total,
        )
        out.update(self.extras)
        return out

    def as_floats(self) -> dict[str, float]:
        """Name -> float with a single device synchronisation."""
        terms = self.terms()
        values = torch.stack([v.detach().float().reshape(()) for v in terms.values()]).tolist()
        return dict(zip(terms.keys(), values, strict=False))


def _gaussian_entropy_term(logvar: torch.Tensor) -> torch.Tensor:
    """E_q[log q] of a diagonal Gaussian, summed over the last axis: `(batch,)`."""
    return -(LOG_SQRT_2PI + 0.5 + 0.5 * logvar).sum(-1)


class BlockUnmixing(nn.Module):
    """Per modality a fixed `(k, k)` matrix M that its z is multiplied by on the right, and M's inverse, as
    buffers: they move and save with the model but no optimiser turns them."""

    def __init__(self, sizes: dict[str, int]):
        super().__init__()
        self.names = list(sizes)
        for index, k in enumerate(sizes.values()):
            self.register_buffer(f"matrix{index}", torch.eye(k))
            self.register_buffer(f"inverse{index}", torch.eye(k))

    def matrix(self, name: str) -> torch.Tensor:
        return getattr(self, f"matrix{self.names.index(name)}")

    def unmix(self, name: str, z: torch.Tensor) -> torch.Tensor:
        """The encoder's (rotated) z of modality `name` `(batch, k)`, unmixed."""
        return z @ self.matrix(name).to(z.dtype)

    def remix(self, name: str, z: torch.Tensor) -> torch.Tensor:
        """Unmixed latents back to what the decoder reads."""
        return z @ getattr(self, f"inverse{self.names.index(name)}").to(z.dtype)

    @torch.no_grad()
    def compose(self, name: str, then: torch.Tensor) -> None:
        """Follow the modality's matrix by `then`: z -> z @ M @ then."""
        index = self.names.index(name)
        matrix = getattr(self, f"matrix{index}").double() @ then.double().to(self.matrix(name).device)
        getattr(self, f"matrix{index}").copy_(matrix)
        getattr(self, f"inverse{index}").copy_(torch.linalg.inv(matrix))


class CRLModel(nn.Module):
    """Encoders/decoders keyed by modality name, the latent graph and the flow prior, built from a Config.

    schema: `Cohort.schema()`; its shapes are in cohort layout and converted with `crl.core.nn.model_shape`.
    Batches passed to the methods are dicts of model-layout, normalised tensors.
    """

    def __init__(self, config: Config, schema: dict[str, dict[str, Any]]):
        super().__init__()
        self.config = config
        self.schema = {name: dict(spec) for name, spec in schema.items()}
        self.method = config.method
        self.names = list(config.modalities)
        self.shapes = {
            name: model_shape(config.modalities[name].kind, schema[name]["shape"]) for name in self.names
        }
        self.latent_sizes = {name: config.modalities[name].latents for name in self.names}
        self.eta_sizes = {name: config.modalities[name].eta for name in self.names}
        self.latent_names = config.latent_names()
        self.n_latent = len(self.latent_names)
        self.n_eta = sum(self.eta_sizes.values())
        modality_of = [i for i, name in enumerate(self.names) for _ in range(self.latent_sizes[name])]

        if self.method == "beta-vae":
            # One encoder over all modalities flattened and concatenated; one decoder back (Higgins et al. 2017).
            widths = [m.width for m in config.modalities.values()]
            depth = (
                max(m.depth for m in config.modalities.values() if m.encoder == "mlp")
                if any(m.encoder == "mlp" for m in config.modalities.values())
                else 3
            )
            width = max(widths)
            total_in = sum(math.prod(s) for s in self.shapes.values())
            out = self.n_latent + self.n_eta
            self.joint_body = mlp(total_in, width, max(depth - 1, 0), width)
            self.joint_head = PosteriorHead(width, out)
            self.joint_decoder = mlp(out, total_in, depth, width)
            self.encoders = nn.ModuleDict()
            self.decoders = nn.ModuleDict()
        else:
            self.encoders = nn.ModuleDict(
                {
                    name: build_encoder(
                        m.encoder, self.shapes[name], m.latents + m.eta, depth=m.depth, width=m.width
                    )
                    for name, m in config.modalities.items()
                }
            )
            self.decoders = nn.ModuleDict(
                {
                    name: build_decoder(
                        m.encoder, self.shapes[name], m.latents + m.eta, depth=m.depth, width=m.width
                    )
                    for name, m in config.modalities.items()
                }
            )
        g = config.graph
        tiers = None
        if g.acyclicity == "tiers":
            position = {name: k for k, name in enumerate(g.tiers)}
            tiers = [position[name] for name in self.names]
        self.graph = LatentGraph(
            self.latent_names,
            modality_of,
            tiers=tiers,
            required=g.required,
            forbidden=g.forbidden,
            initial_strength=g.initial_strength,
            temperature=g.temperature,
            enabled=self.method == "ours",
            orientation=g.orientation,
        )
        # beta-VAE has the standard normal prior and no flow (unused parameters would also break DDP).
        self.prior = self.fresh_prior() if self.method != "beta-vae" else None
        # Per modality, a rotation of [z, eta] (exp of a skew-symmetric matrix) after the encoder, undone before
        # the decoder: reconstruction is blind to it, so the prior turns it freely (see PriorConfig.rotation).
        rotate = config.prior.rotation and self.method != "beta-vae"
        self.rotations = nn.ParameterDict(
            {
                name: nn.Parameter(
                    torch.zeros(
                        self.latent_sizes[name] + self.eta_sizes[name],
                        self.latent_sizes[name] + self.eta_sizes[name],
                    )
                )
                for name in self.names
            }
            if rotate
            else {}
        )
        # Per modality, a fixed invertible matrix on z after the rotation, undone before the decoder; identity
        # until crl.core.unmix sets it at the end of the warm-up. Only models configured for it have one, so
        # runs saved before it load unchanged.
        self.unmixing = (
            BlockUnmixing({name: self.latent_sizes[name] for name in self.names})
            if config.prior.unmix and self.method == "ours"
            else None
        )
        # Per modality some training subject lacks (the schema marks it), the posterior of its latents given the
        # subject's other modalities (crl.core.nn.imputer). Built last, so the other weights do not depend on it.
        incomplete = (
            [n for n in self.names if self.schema[n].get("incomplete")] if self.method != "beta-vae" else []
        )
        self.imputers = nn.ModuleDict(
            {
                name: Imputer(
                    self.n_latent - self.latent_sizes[name], len(self.names) - 1, self.latent_sizes[name]
                )
                for name in incomplete
            }
        )
        # Under DistributedDataParallel every parameter must reach every step's loss, so the imputers run even
        # on a batch in which nobody lacks a modality (crl.engine.distributed sets this).
        self.always_impute = False

    def fresh_prior(self) -> CausalFlowPrior:
        """A new, untrained causal flow prior as the configuration describes it."""
        p = self.config.prior
        return CausalFlowPrior(self.n_latent, hidden=p.hidden, layers=p.layers, flow=p.flow, bins=p.bins)

    def rotation(self, name: str) -> torch.Tensor:
        """The modality's current `(k + e, k + e)` rotation matrix (exp of a skew-symmetric matrix)."""
        a = self.rotations[name]
        return torch.linalg.matrix_exp(a - a.t())

    # ----------------------------------------------------------------------------------------------------------
    def rotations_now(self) -> dict[str, torch.Tensor]:
        """Every modality's mixing matrix, computed once for a forward pass."""
        return {name: self.rotation(name) for name in self.rotations}

    def posterior(
        self, batch: dict[str, torch.Tensor], rotations: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z_mean, z_logvar) `(batch, n_latent)` and (eta_mean, eta_logvar) `(batch, n_eta)`; for a modality a
        subject lacks, its latents' posterior is inferred from its other modalities and its eta's is the prior."""
        parts = self._encoded(batch, rotations)
        present = self.presence(batch)
        return parts if present is None else self._infer_missing(present, *parts)

    def presence(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The batch's `(batch, modalities)` presence mask, or None when nobody in it lacks a modality the model
        can infer (then everything is computed exactly as for a complete cohort)."""
        present = batch.get(PRESENT)
        if present is None or not self.imputers:
            return None
        if not self.always_impute and bool(present.all()):
            return None
        return present

    def _infer_missing(
        self,
        present: torch.Tensor,
        z_mean: torch.Tensor,
        z_logvar: torch.Tensor,
        e_mean: torch.Tensor,
        e_logvar: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Replace, for subjects lacking a modality, the encoder's posterior of that modality (computed on a
        filler) by the imputer's for z and by the prior N(0, I) for eta. torch.where sends the encoder no
        gradient from those rows; the imputer reads only the modalities the subject has."""
        z_sizes = [self.latent_sizes[n] for n in self.names]
        e_sizes = [self.eta_sizes[n] for n in self.names]
        flags = present.to(z_mean.dtype)
        observed = z_mean * torch.repeat_interleave(
            flags, torch.as_tensor(z_sizes, device=flags.device), dim=1
        )
        blocks = torch.split(observed, z_sizes, dim=1)
        if self.unmixing is not None:
            # The imputers read and give latents as the encoders do, before the unmixing (set after they learnt).
            blocks = [self.unmixing.remix(n, b) for n, b in zip(self.names, blocks, strict=True)]
        parts = [
            list(torch.split(z_mean, z_sizes, 1)),
            list(torch.split(z_logvar, z_sizes, 1)),
            list(torch.split(e_mean, e_sizes, 1)),
            list(torch.split(e_logvar, e_sizes, 1)),
        ]
        for j, name in enumerate(self.names):
            if name not in self.imputers:
                continue
            others = torch.cat([b for i, b in enumerate(blocks) if i != j], dim=1)
            other_flags = torch.cat([flags[:, :j], flags[:, j + 1 :]], dim=1)
            mean, logvar = self.imputers[name](others, other_flags)
            if self.unmixing is not None:
                mean = self.unmixing.unmix(name, mean)
            have = present[:, j : j + 1]
            parts[0][j] = torch.where(have, parts[0][j], mean.to(parts[0][j].dtype))
            parts[1][j] = torch.where(have, parts[1][j], logvar.to(parts[1][j].dtype))
            parts[2][j] = torch.where(have, parts[2][j], torch.zeros_like(parts[2][j]))
            parts[3][j] = torch.where(have, parts[3][j], torch.zeros_like(parts[3][j]))
        z_mean, z_logvar, e_mean, e_logvar = (torch.cat(p, 1) for p in parts)
        return z_mean, z_logvar, e_mean, e_logvar

    def _encoded(
        self, batch: dict[str, torch.Tensor], rotations: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The encoders' posterior for every row, whether or not the subject has the modality."""
        if self.method == "beta-vae":
            flat = torch.cat([batch[name].flatten(1) for name in self.names], dim=1)
            mean, logvar = self.joint_head(torch.nn.functional.leaky_relu(self.joint_body(flat), 0.2))
            return (
                mean[:, : self.n_latent],
                logvar[:, : self.n_latent],
                mean[:, self.n_latent :],
                logvar[:, self.n_latent :],
            )
        z_mean, z_logvar, e_mean, e_logvar = [], [], [], []
        for name in self.names:
            mean, logvar = self.encoders[name](batch[name])
            if name in self.rotations:
                rotation = rotations[name] if rotations is not None else self.rotation(name)
                mean = mean @ rotation.t()
            k = self.latent_sizes[name]
            z_mean.append(mean[:, :k] if self.unmixing is None else self.unmixing.unmix(name, mean[:, :k]))
            z_logvar.append(logvar[:, :k])
            e_mean.append(mean[:, k:])
            e_logvar.append(logvar[:, k:])
        return torch.cat(z_mean, 1), torch.cat(z_logvar, 1), torch.cat(e_mean, 1), torch.cat(e_logvar, 1)

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Posterior means of the latent causal variables: modality -> `(batch, latents)`."""
        z_mean, _, _, _ = self.posterior(batch)
        return dict(
            zip(
                self.names,
                torch.split(z_mean, [self.latent_sizes[n] for n in self.names], dim=1),
                strict=False,
            )
        )

    def decode(
        self, z: torch.Tensor, eta: torch.Tensor, rotations: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Normalised observations per modality from latents `(batch, n_latent)` and eta `(batch, n_eta)`."""
        if self.method == "beta-vae":
            flat = self.joint_decoder(torch.cat([z, eta], dim=1))
            sizes = [math.prod(self.shapes[n]) for n in self.names]
            parts = torch.split(flat, sizes, dim=1)
            return {
                n: p.reshape(z.shape[0], *self.shapes[n]) for n, p in zip(self.names, parts, strict=False)
            }
        return {name: self.decoders[name](v) for name, v in self._decoder_inputs(z, eta, rotations).items()}

    def _decoder_inputs(
        self, z: torch.Tensor, eta: torch.Tensor, rotations: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """What each modality's decoder reads: its z remixed and its eta, turned back by its rotation."""
        z_parts = torch.split(z, [self.latent_sizes[n] for n in self.names], dim=1)
        e_parts = torch.split(eta, [self.eta_sizes[n] for n in self.names], dim=1)
        out = {}
        for name, zp, ep in zip(self.names, z_parts, e_parts, strict=False):
            if self.unmixing is not None:
                zp = self.unmixing.remix(name, zp)
            v = torch.cat([zp, ep], dim=1)
            if name in self.rotations:
                # The mixing is orthogonal: its inverse transpose is itself.
                v = v @ (rotations[name] if rotations is not None else self.rotation(name))
            out[name] = v
        return out

    def squared_errors(
        self,
        z: torch.Tensor,
        eta: torch.Tensor,
        batch: dict[str, torch.Tensor],
        rotations: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Per modality `(batch, values)`: the squared error of each reconstructed value. A decoder that scores
        more than its output (crl.core.nn.wavelet: the images' wavelet energies too) gives its own."""
        if self.method == "beta-vae":
            recon = self.decode(z, eta, rotations)
            return {n: (recon[n].float() - batch[n].float()).pow(2).flatten(1) for n in self.names}
        errors = {}
        for name, v in self._decoder_inputs(z, eta, rotations).items():
            decoder = self.decoders[name]
            if hasattr(decoder, "squared_error"):
                errors[name] = decoder.squared_error(v, batch[name])
            else:
                errors[name] = (decoder(v).float() - batch[name].float()).pow(2).flatten(1)
        return errors

    def loss(
        self,
        batch: dict[str, torch.Tensor],
        generator: torch.Generator | None = None,
        sparsity_weight: float | None = None,
        acyclicity_weight: float | None = None,
        warmup: float = 0.0,
        frozen_representation: bool = False,
    ) -> LossRecord:
        """The training loss on a batch, one posterior sample per subject.

        sparsity_weight / acyclicity_weight override `config.loss` (training schedules them); without them the
        total uses the configured weights, as validation does. warmup in [0, 1] blends the graph's warm-up gates
        (all cross-modal edges open) into the sampled ones; training lowers it from 1 to 0.
        frozen_representation: the encoders, decoders and rotations are not learning (training's second half),
        so nothing back-propagates through them; the loss's value is unchanged.
        """
        weights = self.config.loss
        learning = torch.is_grad_enabled()
        with torch.set_grad_enabled(learning and not frozen_representation):
            rotations = self.rotations_now()
            z_mean, z_logvar, e_mean, e_logvar = self._encoded(batch, rotations)
        present = self.presence(batch)
        if present is not None:
            # Outside the frozen block: the imputers keep learning with the prior while the encoders stand still.
            z_mean, z_logvar, e_mean, e_logvar = self._infer_missing(
                present, z_mean, z_logvar, e_mean, e_logvar
            )
        n = z_mean.shape[0]
        z = z_mean + torch.exp(0.5 * z_logvar) * torch.randn(
            z_mean.shape, generator=generator, device=z_mean.device, dtype=z_mean.dtype
        )
        eta = e_mean + torch.exp(0.5 * e_logvar) * torch.randn(
            e_mean.shape, generator=generator, device=e_mean.device, dtype=e_mean.dtype
        )
        with torch.set_grad_enabled(learning and not frozen_representation):
            errors = self.squared_errors(z, eta, batch, rotations)
            reconstruction = {
                name: self._reconstruction(name, errors[name], None if present is None else present[:, j])
                for j, name in enumerate(self.names)
            }
        reconstruction_total = torch.stack(list(reconstruction.values())).sum()

        extras: dict[str, torch.Tensor] = {}
        extra_total = torch.zeros((), device=z.device)
        with torch.autocast(device_type=z.device.type, enabled=False):
            z32, eta32 = z.float(), eta.float()
            log_q = _gaussian_entropy_term(z_logvar.float()) + _gaussian_entropy_term(e_logvar.float())
            if self.method == "beta-vae":
                # Closed-form KL to N(0, I), weighted by beta.
                kl = 0.5 * (
                    (z_mean.float().pow(2) + z_logvar.float().exp() - 1.0 - z_logvar.float()).sum(1)
                    + (e_mean.float().pow(2) + e_logvar.float().exp() - 1.0 - e_logvar.float()).sum(1)
                )
                likelihood = kl.mean()
                likelihood_weight = weights.likelihood * weights.beta
            else:
                sampled = self.graph.sample_gates(n, generator=generator, mode="hard")
                gates = sampled
                if warmup > 0:
                    gates = warmup * self.graph.warmup_gates() + (1.0 - warmup) * sampled
                log_p = self.prior.log_prob(z32, gates) + standard_normal_log_prob(eta32).sum(-1)
                likelihood = (log_q - log_p).mean()
                likelihood_weight = weights.likelihood
                if warmup > 0:
                    # The flows also learn under sampled graphs, on the current latents and without pulling the
                    # encoders, so the hand-over from the warm-up gates finds them ready.
                    graph_fit = -self.prior.log_prob(z32.detach(), sampled).mean()
                    extras["graph_fit"] = graph_fit
                    extra_total = extra_total + warmup * weights.likelihood * graph_fit
                if self.graph.free_mask.any():
                    # The graph's gradient: each edge's exact effect on the expected NLL (see
                    # CausalFlowPrior.edge_effects); the term's value is zero, only its gradient counts.
                    m = min(n, EDGE_EFFECT_BATCH)
                    with torch.no_grad():
                        effects = self.prior.edge_effects(z32[:m].detach(), sampled[:m])
                    score = (self.graph.probabilities() * effects).sum()
                    extra_total = extra_total + weights.likelihood * (score - score.detach())
            sparsity = self.graph.sparsity()
            acyclicity = self.graph.acyclicity()
        a_weight = weights.acyclicity if acyclicity_weight is None else acyclicity_weight
        s_weight = weights.sparsity if sparsity_weight is None else sparsity_weight
        total = (
            weights.reconstruction * reconstruction_total
            + likelihood_weight * likelihood
            + s_weight * sparsity
            + a_weight * acyclicity
            + extra_total
        )
        return LossRecord(
            reconstruction, reconstruction_total, likelihood, sparsity, acyclicity, total, extras
        )

    def _reconstruction(
        self, name: str, error: torch.Tensor, have: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The modality's reconstruction term from its squared errors `(batch, values)`, per subject and averaged
        over the batch.

        fixed: the summed squared error. calibrated: the negative log-likelihood of a Gaussian whose variance is
        the batch's mean squared error (the optimal σ of Rybkin et al. 2021, held constant in the gradient), so
        the error's weight grows as it shrinks instead of fading against the prior term.
        have: `(batch,)` bool, the subjects that have the modality (None: all). A subject lacking it has no
        observation, so its term is 0 (left out of its ELBO) while the mean is still over the whole batch.
        """
        if have is None:
            if self.config.modalities[name].noise != "calibrated":
                return error.sum(1).mean()
            variance = error.mean().detach().clamp_min(MIN_NOISE_VARIANCE)
            return (error / (2.0 * variance)).sum(1).mean() + 0.5 * error.shape[1] * torch.log(variance)
        weight = have.float()
        if self.config.modalities[name].noise != "calibrated":
            return (error.sum(1) * weight).mean()
        count = weight.sum().clamp_min(1.0)
        variance = ((error.mean(1) * weight).sum() / count).detach().clamp_min(MIN_NOISE_VARIANCE)
        per_subject = (error / (2.0 * variance)).sum(1) + 0.5 * error.shape[1] * torch.log(variance)
        return (per_subject * weight).mean()

    def strengths(self):
        """`(n_latent, n_latent)` numpy edge strengths, `[source, target]` (see crl.core.latent_graph)."""
        return self.graph.strengths()


def build_model(config: Config, schema: dict[str, dict[str, Any]]) -> CRLModel:
    """A CRLModel whose initial weights depend only on `config.train.seed` (global RNG state is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        return CRLModel(config, schema)
