"""Restarts: does keeping the lowest validation loss of several seeds (`train.restarts`) recover more?

Which local optimum training ends in depends on the initial weights (bench/results/FINDINGS.md). This trains
every data seed d's cohort as `--set train.restarts=R` with `train.seed=d` does (crl.engine.restarts): seeds d, d+1,
… d+R-1 on the validation split drawn from d, each restart scored separately. Per cohort it reports the MCC of
restart 0 (the single run bench/accuracy.py trains), of the restart with the lowest best validation loss
(what `train.restarts` keeps), of the one with the fewest learnt cross-modal edges (the paper's
identifiability principle; ties by loss), the mean over restarts (a random pick) and the best one, and the
cross-modal SHD of restart 0 and of the kept one. Writes bench/results/restarts.md and restarts.json (or
`--name`); the JSON keeps each restart's validation loss per epoch, to ask how early the kept restart could
have been told apart.

    python bench/restarts.py                          # paper-case1, data seeds 0-4, 4 restarts each
    python bench/restarts.py --data-seeds 0,1 --restarts 3 --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np
import torch
from _common import RESULTS, invocation, save_runs
from accuracy import run_one


def run(preset: str, data_seed: int, model_seed: int) -> dict:
    """One restart: bench/accuracy.py's run on the data seed's cohort with `train.seed` set to the model seed,
    on the data seed's validation split (as crl.engine.restarts trains restart `model_seed - data_seed`)."""
    row = run_one(preset, data_seed, "ours", None, [f"train.seed={model_seed}"], split_seed=data_seed)
    return {
        "preset": preset,
        "data_seed": data_seed,
        "model_seed": model_seed,
        **{
            key: row[key]
            for key in ("mcc", "shd_cross_modal", "validation_loss", "cross_edges", "validation_curve")
        },
        "seconds": row["train_seconds"],
    }


SCREEN_EPOCHS = (1, 2, 5, 10, 20, 30, 40, 50)


def screening(rows: list[dict]) -> list[str]:
    """Could restarts be told apart early? The MCC of the restart with the lowest validation loss at epoch e
    (of the training that continues), averaged over cohorts, for several e."""
    cohorts = [[r for r in rows if r["data_seed"] == d] for d in dict.fromkeys(r["data_seed"] for r in rows)]
    epochs = [e for e in SCREEN_EPOCHS if all(len(r["validation_curve"]) >= e for c in cohorts for r in c)]
    picks = [
        np.mean([min(c, key=lambda r: r["validation_curve"][e - 1])["mcc"] for c in cohorts]) for e in epochs
    ]
    return [
        "",
        "Picked by the validation loss after e epochs instead (mean MCC over cohorts; the final pick above is "
        "the best validation loss after the graph schedule):",
        "",
        "| after epoch | " + " | ".join(str(e) for e in epochs) + " |",
        "|---|" + "---|" * len(epochs),
        "| mean MCC of the pick | " + " | ".join(f"{p:.3f}" for p in picks) + " |",
    ]


def _cell(key: str, value: float) -> str:
    """MCC to three decimals, SHD to one; — where a run did not record it."""
    if np.isnan(value):
        return "—"
    return f"{value:.1f}" if key.startswith("shd") else f"{value:.3f}"


def report(rows: list[dict], args: argparse.Namespace, command: str) -> None:
    """bench/results/<name>.md from the measured rows."""
    lines = [
        "# Restarts (`train.restarts`) picked by validation loss, or by the sparsest cross-modal graph",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {args.threads} torch threads, torch {torch.__version__}.  ",
        f"{args.preset}, default settings; data seed d's restarts are full training runs with `train.seed` "
        "d, d+1, … on the validation split drawn from d, as `--set train.restarts=R` trains them.",
        "",
        "| data seed | MCC per restart (seed d, d+1, …) | cross-modal edges per restart | restart 0 "
        "| lowest validation loss (kept) | sparsest, then lowest loss | mean | best "
        "| cross-modal SHD, restart 0 | cross-modal SHD, kept |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary: dict[str, list[float]] = {}
    for data_seed in dict.fromkeys(r["data_seed"] for r in rows):
        mine = [r for r in rows if r["data_seed"] == data_seed]
        scores = [r["mcc"] for r in mine]
        kept = min(mine, key=lambda r: r["validation_loss"])
        by_loss = kept["mcc"]
        sparsest = min(mine, key=lambda r: (r["cross_edges"], r["validation_loss"]))["mcc"]
        first = next(r for r in mine if r["model_seed"] == data_seed)
        default = first["mcc"]
        values = {
            "default": default,
            "loss": by_loss,
            "sparse": sparsest,
            "mean": np.mean(scores),
            "best": max(scores),
            "shd_first": first.get("shd_cross_modal", float("nan")),
            "shd_kept": kept.get("shd_cross_modal", float("nan")),
        }
        for key, value in values.items():
            summary.setdefault(key, []).append(value)
        cells = ", ".join(f"{s:.3f}" for s in scores) + " | " + ", ".join(str(r["cross_edges"]) for r in mine)
        lines.append(
            f"| {data_seed} | {cells} | " + " | ".join(_cell(k, v) for k, v in values.items()) + " |"
        )
    means = [_cell(k, float(np.mean(v))) for k, v in summary.items()]
    lines.append("| mean | | | " + " | ".join(means) + " |")
    if all("validation_curve" in r for r in rows):
        lines += screening(rows)
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="paper-case1")
    parser.add_argument("--data-seeds", default="0,1,2,3,4")
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="restarts", help="results file name in bench/results (no suffix)")
    parser.add_argument(
        "--report", action="store_true", help="rewrite <name>.md from <name>.json without training"
    )
    args = parser.parse_args()
    if args.report:
        saved = json.loads((RESULTS / f"{args.name}.json").read_text())
        args = argparse.Namespace(**{**saved["args"], "name": args.name})
        torch.set_num_threads(args.threads)
        flags = f"--preset {args.preset} --data-seeds {args.data_seeds} --restarts {args.restarts}"
        report(
            saved["runs"],
            args,
            f"python bench/restarts.py {flags} --threads {args.threads} --name {args.name}",
        )
        return
    torch.set_num_threads(args.threads)
    rows = []
    for data_seed in [int(s) for s in args.data_seeds.split(",")]:
        for model_seed in range(data_seed, data_seed + args.restarts):
            rows.append(run(args.preset, data_seed, model_seed))
            r = rows[-1]
            print(
                f"data {data_seed} model {model_seed} MCC {r['mcc']:.3f} "
                f"validation {r['validation_loss']:.4f} cross edges {r['cross_edges']} {r['seconds']:.0f}s",
                flush=True,
            )
            save_runs(args.name, args, rows)
    report(rows, args, invocation("restarts.py"))


if __name__ == "__main__":
    main()
