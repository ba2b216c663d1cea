"""The configuration's sections: per-modality networks, graph, prior, loss weights, training.

Each field is declared once (crl.config.fields.declare): its default, its bounds or choices, and the label and
help text the Model page shows. The class docstrings say what the settings do inside the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from crl.config.fields import declare

KIND_ENCODERS: dict[str, tuple[str, ...]] = {
    "tabular": ("mlp",),
    "timeseries": ("cnn1d", "gru", "mlp"),
    "image": ("resnet", "mlp", "pca", "wavelet"),
}
METHODS = ("ours", "beta-vae", "no-graph")
NOISE_MODELS = ("fixed", "calibrated")
ACYCLICITY = ("learned", "tiers")
ORIENTATIONS = ("order", "pairwise")
SCHEDULES = ("cosine", "plateau", "constant")
PRECISIONS = ("auto", "bf16", "fp16", "off")
FLOWS = ("affine", "spline")
MISSING_MODALITIES = ("infer", "drop")  # subjects lacking a modality: trained on (inferred) or left out
MAX_BINS = 64
MAX_RESTARTS = 20  # each restart is a full training run
MAX_UNMIX = 20  # each round fits the prior's flows twice (crl.core.unmix)
MAX_REALIGN = 50  # each realignment encodes up to crl.engine.warmup.REALIGN_SUBJECTS subjects
MAX_LATENTS = 32  # per modality: the graph has a parameter per ordered pair of latents

_WEIGHT = {"low": 0, "format": "%.4g"}  # a loss weight: any finite number >= 0


@dataclass(frozen=True)
class ModalityConfig:
    """One modality's networks and latent sizes.

    encoder: a family valid for `kind` (tabular: mlp; timeseries: cnn1d | gru | mlp; image: resnet | mlp | pca
    | wavelet).
    depth: hidden layers (mlp), down-sampling stages (cnn1d, resnet; 0 = chosen from the input size) or GRU layers.
    width: hidden units (mlp, gru) or base channels (cnn1d, resnet).
    latents: latent causal variables z^(m); eta: modality-specific exogenous dimensions eta^(m).
    noise: the decoder's noise model, "fixed" (squared error, the paper) or "calibrated" (crl.core.model).
    """

    kind: str = declare("tabular", choices=tuple(KIND_ENCODERS))
    encoder: str = declare(
        "mlp",
        label="Encoder",
        help="The network family; the decoder mirrors it. MLP: fully connected layers. 1-D CNN: convolutions "
        "over time. GRU: a recurrent network. ResNet: a residual convolutional network for images. "
        "PCA + MLP: an MLP on the images' principal components, fitted on the training data. "
        "PCA + texture: the same, plus the principal components of the images' wavelet energies, for causes "
        "that change a texture (how much vessels wiggle) rather than the average look.",
        names={
            "mlp": "MLP",
            "cnn1d": "1-D CNN",
            "gru": "GRU",
            "resnet": "ResNet",
            "pca": "PCA + MLP",
            "wavelet": "PCA + texture + MLP",
        },
    )
    depth: int = declare(
        3,
        label="Depth",
        low=0,
        high=12,
        step=1,
        help="Hidden layers (MLP), layers (GRU) or down-sampling stages (CNN, ResNet; 0 = chosen from "
        "the data size).",
    )
    width: int = declare(
        128,
        label="Width",
        low=1,
        high=2048,
        step=16,
        help="Hidden units (MLP, GRU) or base channels (CNN, ResNet).",
    )
    latents: int = declare(
        2,
        label="Latents",
        low=1,
        high=MAX_LATENTS,
        step=1,
        help="Latent causal variables for this modality (the paper uses 2–4).",
    )
    eta: int = declare(
        1,
        label="η dims",
        low=0,
        high=32,
        step=1,
        help="Modality-specific dimensions: variation that never affects another modality.",
    )
    noise: str = declare(
        "fixed",
        choices=NOISE_MODELS,
        label="Reconstruction noise",
        help="fixed: the squared error at weight α_R (the paper). calibrated: a Gaussian whose noise scale is "
        "the current error (the σ-VAE of Rybkin et al. 2021), so reconstruction keeps paying off as the error "
        "shrinks.",
        names={"fixed": "Fixed (paper)", "calibrated": "Calibrated to the error"},
    )


@dataclass(frozen=True)
class GraphConfig:
    """The latent graph's constraints.

    acyclicity: "learned" (trace-exponential penalty on the whole graph) or "tiers": `tiers` lists modality
    names from causes to effects, edges only go from an earlier-or-same tier, and the penalty acts within tiers.
    required / forbidden: edges as ("<modality>.z<k>", "<modality>.z<k>") pairs, source first.
    initial_strength: every pair's probability of being linked before training (a probability in (0, 1));
    a pair free in both directions starts at half of it each way.
    temperature: of the relaxed-Bernoulli edge gates sampled during training (lower = closer to 0/1).
    lr_multiplier: the edge parameters' learning rate relative to train.lr (the graph must settle while the
    encoders still move).
    Training has three phases (bench/results/FINDINGS.md says why). In the warm-up (loss.graph_warmup) the
    prior sees every cross-modal edge and no within-modality edge, which pins each latent down as what the
    other modalities predict of it. Then the latents stand still while the graph is learnt on them: letting
    the representation follow a graph that is still wrong turned good latents away from the truth.
    representation_lr_after_warmup: the learning rate of the encoders, decoders and per-modality rotations
    during the graph schedule (loss.acyclicity_warmup), relative to train.lr; 0 freezes them.
    networks_lr_after_schedule: the same once the schedule is complete.
    orientation: "order" samples a causal order per subject, so every sampled graph is acyclic (crl.core.latent_graph);
    "pairwise" is the layout of runs saved before it, one free orientation per pair.
    search_order: at the end of the warm-up, point the graph at the causal order whose graph needs the fewest
    cross-modal edges (crl.core.graph_search) before gradient steps refine it.
    """

    acyclicity: str = declare(
        "learned",
        choices=ACYCLICITY,
        label="Causal order between modalities",
        names={"learned": "Learned from the data", "tiers": "Fixed order of modalities (tiers)"},
        help="Learned: any modality may cause any other, and a penalty keeps the graph acyclic. Tiers: you "
        "give the order, and links only go from earlier modalities to later ones (and within a modality).",
    )
    tiers: tuple[str, ...] = declare(
        (),
        label="Order, causes first",
        help="Pick every modality once, in order: the first can only cause, the last can only be affected.",
    )
    required: tuple[tuple[str, str], ...] = declare(
        (), label="Required links", help="Links kept open whatever the data says (source → target)."
    )
    forbidden: tuple[tuple[str, str], ...] = declare(
        (),
        label="Forbidden links",
        help="Links that can never appear, e.g. an effect that cannot precede its cause.",
    )
    initial_strength: float = declare(0.9, low=0, high=1, open_low=True, open_high=True)
    temperature: float = declare(0.5, low=0, open_low=True)
    lr_multiplier: float = declare(1.0, low=0)
    representation_lr_after_warmup: float = declare(0.0, low=0)
    networks_lr_after_schedule: float = declare(0.0, low=0)
    orientation: str = declare("order", choices=ORIENTATIONS)
    search_order: bool = True


@dataclass(frozen=True)
class PriorConfig:
    """The latent causal prior's flows and the per-modality rotation in front of them.

    hidden / layers: each latent's conditioner MLP.
    flow: "affine" (each latent Gaussian given its parents, with a mean and scale that depend on them) or
    "spline" (a monotone rational-quadratic spline after the affine map, for non-Gaussian noise); bins: the
    spline's segments.
    rotation: learn a rotation of each modality's [z, eta] that the decoder undoes, so the prior can turn the
    latents inside a block without the autoencoder resisting (reconstruction is blind to it).
    realign: how many times, evenly spread over the warm-up, to turn each modality's rotation so that z spans
    what the other modalities predict of [z, eta] (crl.core.realign); it pulls a true latent back out of eta, which
    gradient steps do not. 0 never does.
    unmix: rounds of block unmixing at the warm-up's end (crl.core.unmix): an invertible matrix per modality
    undoes a linear mix inside its block, found in turns with a causal order; 0 never does.
    """

    hidden: int = declare(32, low=1)
    layers: int = declare(2, low=1)
    flow: str = declare(
        "affine",
        choices=FLOWS,
        label="Noise shape",
        names={"affine": "Gaussian (affine flow)", "spline": "Any shape (spline flow)"},
        help="How each hidden variable varies around what its causes predict. Gaussian is the paper's choice and "
        "the fastest. A spline also fits skewed, heavy-tailed or two-peaked variation; each training step takes "
        "1.4 to 2 times as long. On the paper's synthetic cohorts both recover the hidden variables about equally "
        "well.",
    )
    bins: int = declare(8, low=2, high=MAX_BINS)
    rotation: bool = True
    realign: int = declare(
        4,
        label="Block realignments",
        low=0,
        high=MAX_REALIGN,
        step=1,
        help="How often, during the warm-up, to turn each modality's hidden variables towards what the other "
        "modalities predict of it. This pulls a hidden cause back that training had filed as "
        "modality-specific noise; on the paper's first synthetic case it raised MCC from 0.78 to 0.84. "
        "0 turns it off.",
    )
    unmix: int = declare(
        10,
        label="Block unmixing rounds",
        low=0,
        high=MAX_UNMIX,
        step=1,
        help="At the end of the warm-up, undo a mix of each modality's hidden variables that a rotation cannot "
        "undo, in turns with the search for their causal order. On the paper's three synthetic cases 10 rounds "
        "raised MCC from 0.839, 0.775 and 0.865 to 0.847, 0.841 and 0.926 (6 rounds: 0.826, 0.826, 0.916). "
        "A round takes 5 to 20 seconds on one CPU core, more with more hidden variables. 0 turns it off.",
    )


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms (paper Eq. 6 defaults for numerical data).

    reconstruction: alpha_R on the summed squared error of every normalised modality.
    likelihood: alpha_I on the KL of the posterior to the causal prior, E_q[log q - log p].
    sparsity: alpha_S on the L1 norm of cross-modal edge strengths.
    graph_warmup: fraction of training during which the prior sees every cross-modal edge (which pulls shared
    information into z and leaves the private part to eta) while the graph learns on the side, and no penalty
    applies (Adam moves a parameter with a tiny but steady gradient at full speed, so an early penalty would
    close edges before the prior has learnt to use them). By default it is also the only phase in which the
    encoders learn (graph.representation_lr_after_warmup), hence half of training.
    acyclicity: weight of the acyclicity penalty.
    acyclicity_warmup: fraction of training, after the graph warm-up, over which the warm-up gates fade out and
    the sparsity and acyclicity weights rise linearly to their values.
    beta: the beta-VAE baseline's KL weight is `likelihood * beta`.
    """

    reconstruction: float = declare(
        1.0,
        label="Reconstruction (α_R)",
        step=0.1,
        help="Weight of the squared error between each modality and its reconstruction.",
        **_WEIGHT,
    )
    likelihood: float = declare(
        0.1,
        label="Independence / likelihood (α_I)",
        step=0.01,
        help="Weight of the causal prior's likelihood (the KL to the graph-structured prior): it makes the "
        "noises of the latents independent.",
        **_WEIGHT,
    )
    sparsity: float = declare(
        0.01,
        label="Sparsity (α_S)",
        step=0.001,
        help="Weight of the L1 penalty on cross-modal edge strengths: higher keeps fewer links between "
        "modalities. With the default phases it shapes the graph only: the latents are settled when the "
        "warm-up ends, before the penalty starts (paper case 2: the same latents at every weight from 0 to 0.1).",
        **_WEIGHT,
    )
    acyclicity: float = declare(
        1.0,
        label="Acyclicity weight",
        step=0.1,
        help="Final weight of the penalty that keeps a learned order acyclic.",
        **_WEIGHT,
    )
    graph_warmup: float = declare(
        0.5,
        label="Graph warm-up",
        unit="fraction of training",
        low=0,
        high=0.9,
        step=0.05,
        help="The encoders learn the hidden variables during this fraction of training; then they "
        "stand still while the links between them are learned, with sparsity and acyclicity.",
    )
    acyclicity_warmup: float = declare(0.3, low=0, high=1)
    beta: float = declare(4.0, **_WEIGHT)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; `device` is "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".

    Training runs `epochs` epochs, or more when that is fewer than `min_steps` optimisation steps (small
    cohorts), since the graph schedule (loss.graph_warmup, loss.acyclicity_warmup) needs steps, not passes.
    Early stopping (`patience` epochs without a better validation loss, after at least `min_epochs`) never
    stops before that schedule is complete, and the weights kept at the end are the best validation epoch's
    among those after it.

    `restarts` > 1 trains that many times from seeds `seed`, `seed + 1`, … on one validation split (drawn from
    `seed`) and keeps the run with the lowest best validation loss (crl.engine.restarts): which optimum training
    reaches depends on the initial weights, at `restarts` times the time.

    `missing_modalities`: "infer" trains on every subject with at least one modality, inferring the latents of
    the modalities it lacks (crl.core.model, docs/method.md); "drop" only on subjects present in every modality
    (crl.data.missing applies it to the loaded cohort)."""

    epochs: int = declare(
        100,
        label="Epochs",
        low=1,
        step=10,
        help="Passes over the training subjects (early stopping may end sooner).",
    )
    # 3000: about what 10 000 subjects get from 100 epochs at batch 256; a 300-subject cohort gets as many
    # (bench/results/cohort_size.md). The Train page announces the steps and the epochs they make.
    min_steps: int = declare(
        3000,
        label="Minimum steps",
        low=0,
        step=500,
        help="Train at least this many optimisation steps, with more epochs when the cohort is small: the "
        "graph's schedule needs steps, not passes (0: exactly the epochs above).",
    )
    batch_size: int = declare(256, label="Batch size", low=1, step=16, help="Subjects per optimisation step.")
    lr: float = declare(
        2e-3,
        label="Learning rate",
        low=0,
        high=1,
        open_low=True,
        step=1e-4,
        format="%.2e",
        help="Adam's step size (around 1e-3 works for most cohorts).",
    )
    schedule: str = declare("cosine", choices=SCHEDULES, label="Learning-rate schedule")
    warmup_steps: int = declare(200, low=0)
    min_lr_ratio: float = declare(0.05, low=0, high=1)
    patience: int = declare(
        20,
        label="Patience",
        unit="epochs",
        low=1,
        step=5,
        help="Stop after this many epochs without a better validation loss.",
    )
    min_epochs: int = declare(
        10,
        label="Minimum epochs",
        low=0,
        step=10,
        help="Early stopping never ends training before this epoch.",
    )
    grad_clip: float = declare(10.0, low=0, open_low=True)
    weight_decay: float = declare(0.0, low=0)
    seed: int = declare(
        0,
        label="Seed",
        low=0,
        step=1,
        help="Fixes the initial weights, the train/validation split and the batch order.",
    )
    restarts: int = declare(
        1,
        label="Restarts",
        low=1,
        high=MAX_RESTARTS,
        step=1,
        help="Train this many times from different initial weights (seed, seed + 1, …) and keep the run with "
        "the lowest validation loss. Takes that many times longer; on the paper's synthetic cases, 4 restarts "
        "recovered the hidden variables with MCC 0.89, 0.81 and 0.90 instead of 0.84, 0.78 and 0.86. With 2 or "
        "more, the Latent graph also shows how often each link was found again and fades latents the runs "
        "disagree on.",
    )
    missing_modalities: str = declare(
        "infer",
        choices=MISSING_MODALITIES,
        label="Subjects missing a modality",
        names={"infer": "train on them (infer the missing latents)", "drop": "leave them out"},
        help="infer: every subject with at least one modality is trained on; the latents of a modality a "
        "subject lacks are inferred from its other modalities through the learned graph, and latents.csv "
        "marks them in its 'inferred' column. drop: only subjects present in every modality are used. "
        "β-VAE always leaves them out.",
    )
    validation_fraction: float = declare(
        0.1,
        label="Validation fraction",
        low=0,
        high=0.9,
        step=0.05,
        help="Subjects held out to choose the best epoch and stop early.",
    )
    device: str = declare("auto", label="Device", help="auto: the GPU when there is one, else the CPU.")
    mixed_precision: str = declare(
        "auto",
        choices=PRECISIONS,
        label="Mixed precision (GPU only)",
        names={
            "auto": "auto (full precision)",
            "bf16": "bf16 (mixed)",
            "fp16": "fp16 (mixed)",
            "off": "off (full precision)",
        },
        help="auto trains in full precision: on an H200, bf16 made these networks' training steps no "
        "faster (0.71–1.01× the speed of full precision). bf16 or fp16 may pay for large image networks.",
    )
    log_every: int = declare(1, low=1)
    checkpoint_every: int = declare(10, low=1)
