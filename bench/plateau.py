"""Time to the MCC plateau: `crl train`'s defaults on paper-case1 with 10 000 subjects, MCC tracked while it trains.

Writes bench/results/plateau.md and plateau.json. Every `--every` epochs a callback encodes the whole cohort and
scores MCC against the truth; the time spent scoring is subtracted from the clock, so the seconds are training
time only. The plateau is the first checkpoint whose MCC is within `--tolerance` of the best MCC of the run.
Run alone: other processes on the two cores distort the seconds.

    python bench/plateau.py                    # paper-case1, n = 10 000, seeds 0 and 1, 2 threads
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


class MCCTracker:
    """fit() callback: MCC against the truth every few epochs, on a clock that excludes its own scoring."""

    def __init__(self, cohort, truth: np.ndarray, config, every: int) -> None:
        self.cohort, self.truth, self.every = cohort, truth, every
        self.normaliser = cohort.fit_normaliser(
            cohort.split(config.train.seed, config.train.validation_fraction)[0]
        )
        self.started = time.perf_counter()
        self.scoring = 0.0
        self.points: list[dict] = []

    def on_epoch(self, info: dict) -> bool:
        epoch = int(info["epoch"]) + 1
        if epoch % self.every == 0 or epoch == 1:
            self.record(info["model"], epoch)
        return False

    def record(self, model, epoch: int) -> None:
        began = time.perf_counter()
        seconds = began - self.started - self.scoring
        latents = encode_cohort(model, self.cohort, self.normaliser)
        estimate = np.concatenate([latents[m] for m in model.names], axis=1)
        model.train()  # encode_cohort leaves the model in eval mode; training goes on
        self.points.append(
            {"epoch": epoch, "seconds": round(seconds, 2), "mcc": mcc(self.truth, estimate).value}
        )
        self.scoring += time.perf_counter() - began


def run(preset: str, seed: int, n: int, every: int, tolerance: float) -> dict:
    synthetic = generate(preset, n=n, seed=seed)
    cohort = synthetic.to_cohort()
    config = apply_overrides(default_config(cohort.schema()), [f"train.seed={seed}", "train.device=cpu"])
    model = build_model(config, cohort.schema())
    tracker = MCCTracker(cohort, synthetic.truth.latents.to_numpy(), config, every)
    result = fit(model, cohort, config, callbacks=[tracker])
    total = time.perf_counter() - tracker.started - tracker.scoring
    best = max(p["mcc"] for p in tracker.points)
    plateau = next(p for p in tracker.points if p["mcc"] >= best - tolerance)
    return {
        "preset": preset,
        "seed": seed,
        "n": n,
        "epochs_run": result.epochs_run,
        "train_seconds": round(total, 1),
        "samples_per_second": round(result.epochs_run * len(result.train_indices) / total),
        "best_mcc": round(best, 3),
        "plateau_seconds": plateau["seconds"],
        "plateau_epoch": plateau["epoch"],
        "plateau_mcc": round(plateau["mcc"], 3),
        "curve": tracker.points,
    }


def write(rows: list[dict], args: argparse.Namespace) -> None:
    save_runs("plateau", args, rows)
    lines = [
        "# Time to the MCC plateau",
        "",
        f"Command: `{invocation('plateau.py')}`  ",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}; "
        "default settings of `crl train` (CPU).  ",
        f"Plateau: the first checkpoint (every {args.every} epochs) within {args.tolerance} of the run's best MCC. "
        "Seconds are training time; scoring is excluded. Target (issue 3): plateau within 60 s.",
        "",
        "| preset | seed | n | plateau (s) | plateau epoch | MCC there | best MCC | epochs run | total (s) | samples/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['seed']} | {r['n']} | {r['plateau_seconds']:.1f} | {r['plateau_epoch']} | "
            f"{r['plateau_mcc']:.3f} | {r['best_mcc']:.3f} | {r['epochs_run']} | {r['train_seconds']:.1f} | "
            f"{r['samples_per_second']} |"
        )
    lines += ["", "MCC over training time (seconds: MCC):", ""]
    for r in rows:
        curve = ", ".join(f"{p['seconds']:.0f}: {p['mcc']:.2f}" for p in r["curve"])
        lines.append(f"- seed {r['seed']}: {curve}")
    (RESULTS / "plateau.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="paper-case1")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=5, help="score every this many epochs")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for seed in range(args.seeds):
        rows.append(run(args.preset, seed, args.n, args.every, args.tolerance))
        r = rows[-1]
        print(
            f"seed {seed}: plateau {r['plateau_seconds']:.0f}s (MCC {r['plateau_mcc']:.3f}), best {r['best_mcc']:.3f}",
            flush=True,
        )
        write(rows, args)


if __name__ == "__main__":
    main()
