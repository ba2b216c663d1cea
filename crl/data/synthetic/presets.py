"""Named synthetic settings (paper §6.1 and App. D): a frozen spec per preset, overridable field by field.

Observation dimensions 15 / 20 / 30 of the paper's numerical cases 1 / 2 / 3 are read **per modality**: case 3
has four modalities and 30 is not divisible by four, so a total-dimension reading cannot be meant. Each modality
of case 1 is therefore 15-dimensional (30 columns in all), of case 2 20-dimensional, of case 3 30-dimensional.

Cross-modal densities are set where sampled graphs most often pass the component-wise identifiability check
(docs/method.md §5b; measured with `crl.graphs.identifiability`): about 24 % for case 1 (3 of 4 pairs), 4 % for
case 2 (7 of 9), 23 % for case 3 (12 of 24). Two modalities with 3 and 2 latents are never identifiable
(exhaustive enumeration of every acyclic cross-modal graph), so the time-series preset's tabular modality has
3 latents, like its signals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from crl.errors import ConfigError, CrlError

GENERATORS = ("numerical", "images", "timeseries", "demo")
IDENTIFIABILITY = ("required", "violated", "any")


@dataclass(frozen=True)
class PresetSpec:
    """Everything that defines a synthetic cohort except n and the seed.

    numerical: `n_modalities` tabular modalities "m1".."mM", each with `latents` latents, `eta` nuisance
    variables and `obs_dim` columns. cross_density: fraction of the cross-modal pairs allowed by a random causal
    order that become edges; `removed_fraction`, when set, replaces it by `1 - removed_fraction` (the paper's
    sparsity ablation: a fraction of the possible cross-modal edges removed). within_density: probability of
    each allowed within-modality edge. images / timeseries use their own fixed modality layout.
    """

    name: str
    description: str
    generator: str
    n: int
    n_modalities: int = 2
    latents: int = 2
    eta: int = 1
    obs_dim: int = 15
    cross_density: float = 0.5
    within_density: float = 0.5
    removed_fraction: float | None = None
    noise: str = "gaussian"
    signal: float = 0.6
    condition: float = 2.0
    slope: float = 0.2
    max_attempts: int = 1000
    # "required": resample until every latent is identifiable one by one (docs/method.md §5b); "violated": until
    # some modality is only block-identifiable (for teaching and tests); "any": keep the first graph drawn.
    identifiability: str = "required"

    @property
    def effective_cross_density(self) -> float:
        return self.cross_density if self.removed_fraction is None else 1.0 - self.removed_fraction

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# The paper's numerical cases (§6.1): (case, modalities, latents and columns per modality, cross-modal density);
# the densities keep 3 of 4, 7 of 9 and 12 of 24 cross-modal pairs.
_PAPER_CASES = ((1, 2, 2, 15, 0.75), (2, 2, 3, 20, 0.78), (3, 4, 2, 30, 0.5))


def _paper_case(case: int, modalities: int, latents: int, obs_dim: int, cross_density: float) -> PresetSpec:
    return PresetSpec(
        f"paper-case{case}",
        f"paper case {case}: {modalities} tabular modalities x ({latents} latents + 1 nuisance), "
        f"{obs_dim} columns each",
        "numerical",
        10_000,
        n_modalities=modalities,
        latents=latents,
        eta=1,
        obs_dim=obs_dim,
        cross_density=cross_density,
    )


PRESETS: dict[str, PresetSpec] = {
    spec.name: spec
    for spec in (
        *(_paper_case(*row) for row in _PAPER_CASES),
        PresetSpec(
            "paper-case2-sparse",
            "sparsity ablation: case 2 with a fraction (removed_fraction, default 0.5) of cross-modal edges removed",
            "numerical",
            10_000,
            n_modalities=2,
            latents=3,
            eta=1,
            obs_dim=20,
            removed_fraction=0.5,
            identifiability="any",  # no graph with half the cross-modal pairs removed passes the check
        ),
        PresetSpec(
            "block-only",
            "teaching case: 3 tabular modalities x 2 latents whose graph identifies some latents only as a block",
            "numerical",
            5_000,
            n_modalities=3,
            latents=2,
            eta=1,
            obs_dim=12,
            cross_density=0.3,
            identifiability="violated",
        ),
        PresetSpec(
            "images",
            "variant MNIST: image_a position -> its transparency; that position -> image_b position -> brightness",
            "images",
            5_000,
            latents=2,
            eta=2,
        ),
        PresetSpec(
            "timeseries",
            "signals: 3 channels x 64 steps (amplitude, frequency, baseline latents), linked to labs (3 latents, 8 columns)",
            "timeseries",
            4_000,
            latents=3,
            eta=1,
            obs_dim=8,
            cross_density=0.78,  # 7 of 9 pairs
        ),
        PresetSpec(
            "demo",
            "phenotype-study look-alike: 3-night home sleep test, left and right fundus photos, clinical covariates",
            "demo",
            2_000,
            latents=3,
            eta=6,
        ),
    )
}


def resolve_spec(preset: str, overrides: dict) -> PresetSpec:
    """The preset's spec with `overrides` applied; unknown presets or fields raise with the valid choices."""
    if preset not in PRESETS:
        raise CrlError(f"unknown synthetic preset '{preset}'; valid presets: {', '.join(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(PresetSpec)} - {"name", "description", "generator"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(
            f"unknown synthetic option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(fields))}"
        )
    spec = dataclasses.replace(PRESETS[preset], **overrides)
    _check(spec)
    return spec


def _check(spec: PresetSpec) -> None:
    if spec.n < 1:
        raise ConfigError(f"n must be at least 1 (got {spec.n})")
    if spec.generator == "numerical":
        if spec.n_modalities < 2:
            raise ConfigError(f"n_modalities must be at least 2 (got {spec.n_modalities})")
        if spec.obs_dim < spec.latents + spec.eta:
            raise ConfigError(
                f"obs_dim ({spec.obs_dim}) must be at least latents + eta ({spec.latents + spec.eta}) "
                "for the mixing to be invertible"
            )
    if spec.removed_fraction is not None and not 0.0 <= spec.removed_fraction <= 1.0:
        raise ConfigError(f"removed_fraction must lie in [0, 1] (got {spec.removed_fraction})")
    if spec.identifiability not in IDENTIFIABILITY:
        raise ConfigError(
            f"identifiability must be one of {', '.join(IDENTIFIABILITY)} (got {spec.identifiability!r})"
        )
    if spec.eta < 0 or spec.latents < 1:
        raise ConfigError("latents must be >= 1 and eta >= 0 per modality")
    if spec.generator == "demo" and (spec.latents != 3 or spec.eta != 6):
        raise ConfigError("the demo preset has a fixed layout: 3 latents per modality (eta is fixed too)")
    if spec.generator == "images" and (spec.latents != 2 or spec.eta != 2):
        raise ConfigError("the images preset has exactly 2 latents (position, appearance) and 2 nuisances")


def describe_presets() -> str:
    """One line per preset: name, default n, description (for `crl synth --list`)."""
    width = max(len(name) for name in PRESETS)
    return "\n".join(f"{name:<{width}}  n={spec.n:<6d} {spec.description}" for name, spec in PRESETS.items())
