"""bench/joint_starts.py's search over graph and unmixing, on what the engine learnt instead of the truth.

bench/joint_starts.py runs on the true latents with each block remixed by a known matrix. Here each case 2
cohort is trained as bench/accuracy.py trains it (default settings), and the same search from several starts
runs on the trained model's posterior means (each latent standardised): half the subjects fitted and scored,
the other half tested. The engine's own MCC on that half is the baseline. If this gains, the search belongs at
the end of the engine's warm-up, where the representation stops learning.

    python bench/joint_on_trained.py                        # paper-case2, cohorts 0-4
"""

from __future__ import annotations

import numpy as np
import torch
from _common import save_runs
from accuracy import run_one
from graph_margin import Remixed
from joint_starts import merge, parse_arguments, search_from_starts, write_markdown

from crl.analysis.metrics import mcc
from crl.data.synthetic import generate


def trained(preset: str, seed: int) -> tuple[Remixed, float]:
    """The trained model's posterior means as a `Remixed` (subjects shuffled), and the engine's own test MCC."""
    row = run_one(preset, seed, "ours", None, [], keep_latents=True)
    latents = row.pop("latents")
    truth_table = generate(preset, seed=seed).truth
    names = truth_table.latent_names
    blocks = truth_table.blocks()
    truth = truth_table.latents.loc[latents.index, names].to_numpy()
    order = np.random.default_rng(seed).permutation(len(truth))
    columns = [c for m in blocks for c in latents.columns if c.startswith(f"{m}.z")]
    z = latents[columns].to_numpy()[order]
    truth = truth[order]
    truth = (truth - truth.mean(0)) / truth.std(0)
    z = (z - z.mean(0)) / z.std(0)
    modality_of = [list(blocks).index(name.split(".")[0]) for name in names]
    data = Remixed(
        truth=truth,
        mixed=torch.tensor(z, dtype=torch.float32),
        mixings=[],
        names=names,
        modality_of=modality_of,
        sizes=[len(v) for v in blocks.values()],
        cross=np.array([[a != b for b in modality_of] for a in modality_of]),
        adjacency=truth_table.adjacency().astype(bool),
    )
    half = len(z) // 2
    return data, mcc(truth[half:], z[half:]).value


def main() -> None:
    args = parse_arguments(__doc__, "joint_on_trained")
    if args.merge:
        merge("joint_on_trained.py", args.merge, args.name)
        return
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        data, engine_mcc = trained(args.preset, seed)
        half = len(data.truth) // 2
        print(f"seed {seed}: the engine's own MCC on the tested half {engine_mcc:.3f}", flush=True)
        rows.append(
            {"preset": args.preset, "engine_mcc": engine_mcc, **search_from_starts(data, half, args, seed)}
        )
    args.n = half
    save_runs(args.name, args, rows)
    write_markdown(args, rows)


if __name__ == "__main__":
    main()
