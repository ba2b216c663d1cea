"""Hand-made run folders (docs/run-folder.md) built from a synthetic cohort's truth, with known right answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from crl.data.truth import load_truth
from crl.graphs.names import split_latent_name


def swapped(name: str, k: int) -> str:
    """The learned name a true latent gets: index reversed within its modality of k latents."""
    modality, i = split_latent_name(name)
    return f"{modality}.z{k - 1 - i}"


def fake_run(
    path: Path,
    cohort: Path,
    *,
    noise: float = 0.2,
    seed: int = 0,
    drop_edges: int = 0,
    drop: tuple[tuple[str, str], ...] = (),
    extra_edges: int = 0,
    threshold: float = 0.5,
    sparsity_path: bool = False,
    steps: int = 30,
) -> Path:
    """A finished run whose latents are noisy, sign-flipped, reordered copies of the true ones.

    graph.csv holds every ordered pair: true edges (minus the first `drop_edges` and those in `drop`, given in
    true names) get weights in [0.7, 1.0],
    `extra_edges` wrong pairs get 0.6, everything else falls in [0, 0.3]. metrics.jsonl has `steps` rows of a
    decreasing loss. With `sparsity_path`, path/index.json and path/<k>/graph.csv hold three sparser graphs.
    """
    rng = np.random.default_rng(seed)
    truth = load_truth(cohort)
    blocks = truth.blocks()
    rename = {n: swapped(n, len(blocks[split_latent_name(n)[0]])) for n in truth.latent_names}
    z = truth.latents
    learned = -(z + noise * rng.normal(size=z.shape) * z.std().to_numpy())
    learned = learned.rename(columns=rename)
    order = [n for m in blocks for n in sorted(rename[x] for x in blocks[m])]
    learned = learned[order]
    path.mkdir(parents=True)
    learned.reset_index().to_csv(path / "latents.csv", index=False)

    true_edges = {(rename[s], rename[t]) for s, t in truth.edges}
    dropped = set(sorted(true_edges)[:drop_edges]) | {(rename[s], rename[t]) for s, t in drop}
    others = [
        (s, t)
        for s in order
        for t in order
        if s != t and (s, t) not in true_edges and (t, s) not in true_edges
    ]
    extra = (
        {others[i] for i in rng.choice(len(others), size=extra_edges, replace=False)}
        if extra_edges
        else set()
    )
    rows = []
    for s in order:
        for t in order:
            if s == t:
                continue
            if (s, t) in true_edges - dropped:
                w = rng.uniform(0.7, 1.0)
            elif (s, t) in extra:
                w = 0.6
            else:
                w = rng.uniform(0.0, 0.3)
            rows.append((s, t, round(float(w), 4)))
    table = pd.DataFrame(rows, columns=["source", "target", "weight"])
    table.to_csv(path / "graph.csv", index=False)
    config = {"cohort": {"path": str(cohort)}, "graph": {"threshold": threshold}, "seed": seed}
    (path / "config.json").write_text(json.dumps(config))
    (path / "status.json").write_text(json.dumps({"state": "done", "device": "cpu"}))
    with open(path / "metrics.jsonl", "w") as handle:
        for step in range(steps):
            loss = 5.0 * np.exp(-step / 10) + 1 + 0.1 * rng.random()
            row = {"step": step * 10, "epoch": step, "total": loss, "reconstruction": 0.8 * loss}
            row["validation_loss"] = loss + 0.2
            handle.write(json.dumps(row) + "\n")
    if sparsity_path:
        levels = [0.001, 0.01, 0.1]
        for k in range(len(levels)):
            folder = path / "path" / str(k)
            folder.mkdir(parents=True)
            sparser = table.copy()
            sparser["weight"] = (sparser["weight"] - 0.25 * k).clip(lower=0).round(4)
            sparser.to_csv(folder / "graph.csv", index=False)
        (path / "path" / "index.json").write_text(
            json.dumps({"levels": [{"k": k, "sparsity": w} for k, w in enumerate(levels)]})
        )
    return path


def tiny_training(*settings: str) -> list[str]:
    """`--set` arguments for a training run of a few seconds: the given settings, and no minimum step count
    where this crl has one (it would stretch 3 epochs into thousands of steps)."""
    import dataclasses

    from crl.config import TrainConfig

    if "min_steps" in {f.name for f in dataclasses.fields(TrainConfig)}:
        settings = (*settings, "train.min_steps=0")
    return [a for s in settings for a in ("--set", s)]
