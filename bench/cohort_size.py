"""Small cohorts: accuracy at several cohort sizes, today's training budget against step-scaled ones.

A budget in epochs gives a small cohort few optimisation steps (300 subjects at batch 256: one step per epoch,
so 100 epochs are 100 steps, all inside the learning-rate warm-up), while the graph schedule needs steps. Each
variant is a list of configuration overrides applied on top of the defaults; every (preset, size, seed) is one
synthetic cohort with truth, trained once per variant (bench/accuracy.py's run_one), so the variants are
compared on the same cohorts in the same run. Writes bench/results/<name>.md and .json.

    python bench/cohort_size.py                        # sizes 300,1000,3000,10000; paper cases 1 and 2; 2 seeds
    python bench/cohort_size.py --sizes 300,1000 --seeds 3 --variant "steps=train.min_steps=3000"
"""

from __future__ import annotations

import argparse
import platform

import pandas as pd
import torch
from _common import RESULTS, invocation, save_runs
from accuracy import run_one

# name -> overrides; "today" is the defaults as they are.
VARIANTS = {"today": [], "min 3000 steps": ["train.min_steps=3000"]}
COLUMNS = {
    "mcc": "MCC",
    "shd_cross_modal": "cross-modal SHD",
    "cross_edges": "cross-modal links",
    "steps": "steps",
    "train_seconds": "train s",
}


def _variant(text: str) -> tuple[str, list[str]]:
    name, sep, overrides = text.partition("=")
    if not sep:
        raise SystemExit(f"--variant {text}: write it as NAME=KEY=VALUE[;KEY=VALUE...]")
    return name, [o for o in overrides.split(";") if o]


def table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["preset", "n_asked", "variant"], sort=False)
    mean, sd, size = grouped[list(COLUMNS)].mean(), grouped[list(COLUMNS)].std(), grouped.size()
    lines = [
        "| preset | subjects | variant | seeds | " + " | ".join(COLUMNS.values()) + " |",
        "|" + "---|" * (4 + len(COLUMNS)),
    ]
    for key in mean.index:
        cells = [str(k) for k in key] + [str(size[key])]
        for column in COLUMNS:
            m, s = mean.loc[key, column], sd.loc[key, column]
            digits = 3 if column == "mcc" else 1 if column in ("shd_cross_modal", "cross_edges") else 0
            cells.append(f"{m:.{digits}f}" + ("" if pd.isna(s) else f" ± {s:.{digits}f}"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(rows: list[dict], args: argparse.Namespace, variants: dict[str, list[str]]) -> None:
    save_runs(args.name, args, rows)
    lines = [
        "# Accuracy by cohort size: training budgets",
        "",
        f"Command: `{invocation('cohort_size.py')}`  ",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}.  ",
        "Variants (overrides on the defaults): "
        + "; ".join(f"**{k}**: {' '.join(v) or 'none'}" for k, v in variants.items())
        + ".  ",
        "Mean ± sd over seeds (each seed a new cohort; the variants share it). MCC: per-modality matching, "
        "final model, no truth used for selection. Cross-modal links: learned links across modalities at the "
        "0.5 threshold. Steps: optimisation steps actually taken.",
        "",
        table(rows),
        "",
    ]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="paper-case1,paper-case2")
    parser.add_argument("--sizes", default="300,1000,3000,10000")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--variant", action="append", default=[], help="NAME=KEY=VALUE[;KEY=VALUE]: replaces the defaults"
    )
    parser.add_argument("--name", default="cohort_size")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = dict(_variant(v) for v in args.variant) if args.variant else VARIANTS
    rows = []
    for preset in args.presets.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            for seed in range(args.seeds):
                for name, overrides in variants.items():
                    row = run_one(preset, seed, "ours", n, overrides)
                    batch = 256  # the default; a variant may set another
                    for o in overrides:
                        if o.startswith("train.batch_size="):
                            batch = int(o.split("=", 1)[1])
                    # Steps as plan_steps counts them: equal-sized batches, the ragged tail dropped.
                    n_train = row["n_train"]
                    per_epoch = max(1, n_train // min(batch, n_train))
                    row.update(variant=name, n_asked=n, steps=row["epochs"] * per_epoch)
                    rows.append(row)
                    print(
                        f"{preset} n={n} seed {seed} {name:16s} MCC {row['mcc']:.3f} "
                        f"cross-SHD {row['shd_cross_modal']} links {row['cross_edges']} "
                        f"steps {row['steps']} {row['train_seconds']:.0f}s",
                        flush=True,
                    )
                    write(rows, args, variants)


if __name__ == "__main__":
    main()
