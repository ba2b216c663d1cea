"""Same cohort, several model seeds: how much of the MCC spread is the optimiser's, and can validation loss tell?

Writes bench/results/seed_variance.md and seed_variance.json. For each data seed the synthetic cohort is fixed
and only train.seed (initial weights, batch order, split) changes. If MCC varies widely while the validation
loss barely moves, restarts chosen by validation loss cannot fix the spread.

    python bench/seed_variance.py                      # paper-case1, data seeds 0-1, model seeds 0-3
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from _common import RESULTS, invocation, save_runs

from crl.analysis.metrics import mcc
from crl.config import apply_overrides, default_config
from crl.core.model import build_model
from crl.data.synthetic import generate
from crl.engine.fit import encode_cohort, fit


def run_one(cohort, truth: np.ndarray, model_seed: int, overrides: list[str]) -> dict:
    config = apply_overrides(
        default_config(cohort.schema()), [f"train.seed={model_seed}", "train.device=cpu", *overrides]
    )
    model = build_model(config, cohort.schema())
    started = time.perf_counter()
    result = fit(model, cohort, config)
    latents = encode_cohort(model, cohort, result.normaliser)
    best = result.history[result.best_epoch]["validation"]
    return {
        "model_seed": model_seed,
        "mcc": mcc(truth, np.concatenate([latents[m] for m in model.names], axis=1)).value,
        "validation_loss": result.best_validation_loss,
        "validation_likelihood": best["likelihood"],
        "validation_reconstruction": best["reconstruction"],
        "seconds": time.perf_counter() - started,
    }


def write(rows: list[dict], args: argparse.Namespace) -> None:
    save_runs("seed_variance", args, rows)
    lines = [
        "# MCC spread over model seeds on a fixed cohort",
        "",
        f"Command: `{invocation('seed_variance.py')}`  ",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
        "default settings of `crl train`.  ",
        "Each row: one data seed (fixed cohort), one model seed. `picked` marks the lowest validation loss of "
        "its data seed: what restarts selected by validation loss would keep.",
        "",
        "| preset | data seed | model seed | MCC | validation loss | its likelihood term | picked | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        group = [x for x in rows if x["data_seed"] == r["data_seed"]]
        picked = r is min(group, key=lambda x: x["validation_loss"])
        lines.append(
            f"| {r['preset']} | {r['data_seed']} | {r['model_seed']} | {r['mcc']:.3f} | "
            f"{r['validation_loss']:.4f} | {r['validation_likelihood']:.3f} | {'yes' if picked else ''} | "
            f"{r['seconds']:.0f} |"
        )
    (RESULTS / "seed_variance.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="paper-case1")
    parser.add_argument("--data-seeds", default="0,1")
    parser.add_argument("--model-seeds", default="0,1,2,3")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for data_seed in (int(s) for s in args.data_seeds.split(",")):
        synthetic = generate(args.preset, seed=data_seed)
        cohort, truth = synthetic.to_cohort(), synthetic.truth.latents.to_numpy()
        for model_seed in (int(s) for s in args.model_seeds.split(",")):
            row = run_one(cohort, truth, model_seed, args.set)
            rows.append({"preset": args.preset, "data_seed": data_seed, **row})
            print(
                f"data {data_seed} model {model_seed}: MCC {row['mcc']:.3f} val {row['validation_loss']:.4f}",
                flush=True,
            )
            write(rows, args)


if __name__ == "__main__":
    main()
