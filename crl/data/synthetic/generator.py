"""Compose graph, mechanisms, nuisance and mixing into an in-memory synthetic cohort with its ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crl.data.synthetic import images as image_render
from crl.data.synthetic import timeseries as series_render
from crl.data.synthetic.cohort import SyntheticCohort, SyntheticModality, subject_ids
from crl.data.synthetic.dag import Accept, sample_dag
from crl.data.synthetic.mechanisms import StructuralModel, build_structural_model
from crl.data.synthetic.mixing import random_mixing
from crl.data.synthetic.presets import PresetSpec, resolve_spec
from crl.data.truth import Truth
from crl.graphs.names import latent_names, make_blocks


def generate(
    preset: str, n: int | None = None, seed: int = 0, accept: Accept | None = None, **overrides
) -> SyntheticCohort:
    """Generate preset `preset` in memory. Independent random streams for graph, mechanisms, mixing and
    samples, so the graph and the mixing functions depend on the seed only, not on n.

    accept(adjacency, blocks) -> bool: resample sampled graphs until it holds (fixed-graph presets ignore it);
    by default the preset's `identifiability` field decides (most presets require identifiable graphs).
    overrides: any `PresetSpec` field, e.g. cross_density=0.3 or removed_fraction=0.7.
    """
    if n is not None:
        overrides["n"] = int(n)
    spec = resolve_spec(preset, overrides)
    if spec.generator == "demo":
        from crl.data.synthetic.demo import generate_demo

        return generate_demo(spec, seed)
    graph_rng, mechanism_rng, mixing_rng, sample_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    if accept is None:
        accept = _identifiability_check(spec.identifiability)
    build = {"numerical": _numerical, "images": _images, "timeseries": _timeseries}[spec.generator]
    ids = subject_ids(spec.n)
    modalities, z, eta, names, eta_names, model = build(
        spec, accept, graph_rng, mechanism_rng, mixing_rng, sample_rng
    )
    latents = pd.DataFrame(z, index=pd.Index(ids, name="subject_id"), columns=names)
    nuisance = pd.DataFrame(eta, index=pd.Index(ids, name="subject_id"), columns=eta_names)
    edges = [(names[i], names[j]) for i, j in np.argwhere(model.adjacency)]
    truth = Truth(latents=latents, edges=edges, nuisance=nuisance)
    return SyntheticCohort(
        preset=preset, seed=seed, spec=spec, subject_ids=ids, modalities=modalities, truth=truth, model=model
    )


def _identifiability_check(mode: str) -> Accept | None:
    """The graph acceptance test a preset's `identifiability` field asks for."""
    if mode == "any":
        return None
    from crl.graphs.identifiability import check_identifiability

    wanted = mode == "required"
    return lambda adjacency, blocks: check_identifiability(adjacency, blocks).identified == wanted


def _latent_names(blocks: dict[str, list[int]]) -> list[str]:
    return latent_names({m: len(idx) for m, idx in blocks.items()})


def _random_dag(
    blocks: dict[str, list[int]], spec: PresetSpec, accept: Accept | None, graph_rng: np.random.Generator
) -> np.ndarray:
    """A random causal graph over `blocks` with the preset's densities, resampled until `accept` passes."""
    return sample_dag(
        blocks,
        graph_rng,
        cross_density=spec.effective_cross_density,
        within_density=spec.within_density,
        accept=accept,
        max_attempts=spec.max_attempts,
    )


def _latents(
    adjacency: np.ndarray,
    spec: PresetSpec,
    mechanism_rng: np.random.Generator,
    sample_rng: np.random.Generator,
) -> tuple[StructuralModel, np.ndarray]:
    """The structural model on `adjacency` and `spec.n` draws of its latents `(n, n_latent)`."""
    model = build_structural_model(adjacency, mechanism_rng, noise=spec.noise, signal=spec.signal)
    z, _ = model.sample(spec.n, sample_rng)
    return model, z


def _tabular(
    name: str, v: np.ndarray, spec: PresetSpec, latents: int, obs_dim: int, mixing_rng: np.random.Generator
) -> SyntheticModality:
    mixing = random_mixing(v.shape[1], obs_dim, mixing_rng, condition=spec.condition, slope=spec.slope)
    x = mixing(v).astype(np.float32)
    return SyntheticModality(name, "tabular", x, [f"x{i}" for i in range(obs_dim)], latents, mixing)


def _numerical(spec, accept, graph_rng, mechanism_rng, mixing_rng, sample_rng):
    names = [f"m{i + 1}" for i in range(spec.n_modalities)]
    blocks = make_blocks(names, [spec.latents] * spec.n_modalities)
    model, z = _latents(_random_dag(blocks, spec, accept, graph_rng), spec, mechanism_rng, sample_rng)
    eta = sample_rng.standard_normal((spec.n, spec.eta * spec.n_modalities))
    modalities = {}
    for b, (name, idx) in enumerate(blocks.items()):
        v = np.concatenate([z[:, idx], eta[:, b * spec.eta : (b + 1) * spec.eta]], axis=1)
        modalities[name] = _tabular(name, v, spec, spec.latents, spec.obs_dim, mixing_rng)
    eta_names = [f"{m}.eta{k}" for m in names for k in range(spec.eta)]
    return modalities, z, eta, _latent_names(blocks), eta_names, model


def _images(spec, accept, graph_rng, mechanism_rng, mixing_rng, sample_rng):
    # Fixed graph of the paper: a.position -> a.transparency; a.position -> b.position -> b.brightness.
    blocks = make_blocks(["image_a", "image_b"], [2, 2])
    adjacency = np.zeros((4, 4), dtype=bool)
    adjacency[0, 1] = adjacency[0, 2] = adjacency[2, 3] = True
    model, z = _latents(adjacency, spec, mechanism_rng, sample_rng)
    eta = sample_rng.standard_normal((spec.n, 4))
    a = image_render.render_transparency(z[:, 0], z[:, 1], eta[:, 0:2], sample_rng)
    b = image_render.render_brightness(z[:, 2], z[:, 3], eta[:, 2:4], sample_rng)
    modalities = {
        "image_a": SyntheticModality("image_a", "image", a, ["gray"], 2),
        "image_b": SyntheticModality("image_b", "image", b, ["gray"], 2),
    }
    eta_names = ["image_a.eta0", "image_a.eta1", "image_b.eta0", "image_b.eta1"]
    return modalities, z, eta, _latent_names(blocks), eta_names, model


def _timeseries(spec, accept, graph_rng, mechanism_rng, mixing_rng, sample_rng):
    blocks = make_blocks(["signals", "labs"], [3, spec.latents])
    model, z = _latents(_random_dag(blocks, spec, accept, graph_rng), spec, mechanism_rng, sample_rng)
    eta = sample_rng.standard_normal((spec.n, 1 + spec.eta))
    signals = series_render.render_signals(z[:, blocks["signals"]], eta[:, :1], sample_rng)
    v = np.concatenate([z[:, blocks["labs"]], eta[:, 1:]], axis=1)
    modalities = {
        "signals": SyntheticModality("signals", "timeseries", signals, list(series_render.CHANNELS), 3),
        "labs": _tabular("labs", v, spec, spec.latents, spec.obs_dim, mixing_rng),
    }
    eta_names = ["signals.eta0"] + [f"labs.eta{k}" for k in range(spec.eta)]
    return modalities, z, eta, _latent_names(blocks), eta_names, model
