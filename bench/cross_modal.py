"""Cross-modal share against the truth: does "no other modality predicts it" flag the latents that were not recovered?

For each synthetic cohort (data seed d) it trains one run with the defaults (model seed d), then, per learned
latent: its cross-modal share (crl.analysis.cross_modal: held-out R² from the other modalities' latents), its
|corr| with the true latent it is matched to (the MCC matching), and the same share computed on the true latents.
Reports the Spearman correlation between share and true |corr|, and the mean true |corr| of the latents below
WEAK_CROSS_MODAL against the rest. With --run it scores finished run folders on cohorts with truth instead
(e.g. the shipped demo). Writes bench/results/<name>.md and .json.

    python bench/cross_modal.py                          # paper cases 1-3, data seeds 0-4
    python bench/cross_modal.py --run assets/demo/run --name cross_modal-demo
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _common import RESULTS, invocation, save_runs
from scipy.stats import spearmanr

from crl.analysis.cross_modal import WEAK_CROSS_MODAL, cross_modal_share
from crl.analysis.evaluate import score
from crl.config import apply_overrides, default_config
from crl.core.model import build_model
from crl.data.synthetic import generate
from crl.engine.fit import encode_cohort, fit, latent_table


def rows_for(label: str, latents: pd.DataFrame, true_latents: pd.DataFrame, matching: dict) -> list[dict]:
    share = cross_modal_share(latents)
    true_share = cross_modal_share(true_latents)
    common = true_latents.index.intersection(latents.index)
    rows = []
    for true_name, est in matching.items():
        a = true_latents.loc[common, true_name].to_numpy(float)
        b = latents.loc[common, est].to_numpy(float)
        rows.append(
            {
                "cohort": label,
                "latent": est,
                "share": float(share[est]),
                "true_corr": float(abs(np.corrcoef(a, b)[0, 1])),
                "true_share": float(true_share[true_name]),
            }
        )
    return rows


def train_one(preset: str, data_seed: int) -> list[dict]:
    synthetic = generate(preset, seed=data_seed)
    cohort = synthetic.to_cohort()
    config = apply_overrides(default_config(cohort.schema()), [f"train.seed={data_seed}"])
    model = build_model(config, cohort.schema())
    result = fit(model, cohort, config, split_seed=data_seed)
    latents = latent_table(model, cohort, encode_cohort(model, cohort, result.normaliser)).set_index(
        "subject_id"
    )
    edges = pd.DataFrame(
        [
            {"source": s, "target": t, "weight": float(w)}
            for i, s in enumerate(model.latent_names)
            for j, t in enumerate(model.latent_names)
            if i != j
            for w in [model.strengths()[i, j]]
        ]
    )
    metrics = score(latents, edges, synthetic.truth, seed=data_seed)
    return rows_for(f"{preset} seed {data_seed}", latents, synthetic.truth.latents, metrics["matching"])


def score_run(run: Path) -> list[dict]:
    from crl.analysis.evaluate import evaluate_run
    from crl.data.truth import load_truth
    from crl.runs.run import Run

    scores = evaluate_run(run)
    truth = load_truth(Run(run).cohort_path())
    return rows_for(str(run), Run(run).latents(), truth.latents, scores["matching"])


def summarise(rows: list[dict], group) -> list[str]:
    lines = [
        "| group | latents | Spearman(share, true corr) | weak (share < "
        f"{WEAK_CROSS_MODAL:g}): count, mean true corr | others: count, mean true corr | mean share of the true latents |",
        "|---|---|---|---|---|---|",
    ]
    for key in dict.fromkeys(group(r) for r in rows):
        rs = [r for r in rows if group(r) == key]
        rho = (
            spearmanr([r["share"] for r in rs], [r["true_corr"] for r in rs]).statistic
            if len(rs) > 2
            else float("nan")
        )
        weak = [r["true_corr"] for r in rs if r["share"] < WEAK_CROSS_MODAL]
        rest = [r["true_corr"] for r in rs if r["share"] >= WEAK_CROSS_MODAL]

        def avg(values):
            return f"{np.mean(values):.3f}" if values else "–"

        lines.append(
            f"| {key} | {len(rs)} | {rho:.3f} | {len(weak)}, {avg(weak)} | {len(rest)}, {avg(rest)} "
            f"| {np.mean([r['true_share'] for r in rs]):.3f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="paper-case1,paper-case2,paper-case3")
    parser.add_argument("--data-seeds", default="0,1,2,3,4")
    parser.add_argument("--run", action="append", default=[], help="score finished runs instead")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="cross_modal")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[dict] = []
    jobs = [(lambda r=r: score_run(Path(r))) for r in args.run] or [
        (lambda p=p, d=d: train_one(p, d))
        for p in args.presets.split(",")
        for d in (int(s) for s in args.data_seeds.split(","))
    ]
    for job in jobs:
        found = job()
        rows += found
        print(
            found[0]["cohort"],
            [(r["latent"], round(r["share"], 3), round(r["true_corr"], 3)) for r in found],
            flush=True,
        )
        save_runs(args.name, args, rows)
    text = [
        f"# Cross-modal share against the truth ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `{invocation('cross_modal.py')}` on {platform.node() or 'this machine'}, torch {torch.__version__}.",
        "",
        "By preset (or run):",
        "",
        *summarise(rows, lambda r: r["cohort"].split(" seed ")[0]),
        "",
        "All together:",
        "",
        *summarise(rows, lambda r: "all"),
        "",
        "Per latent:",
        "",
        "| cohort | latent | share | true corr | share of its true latent |",
        "|---|---|---|---|---|",
        *[
            f"| {r['cohort']} | {r['latent']} | {r['share']:.3f} | {r['true_corr']:.3f} | {r['true_share']:.3f} |"
            for r in rows
        ],
    ]
    (RESULTS / f"{args.name}.md").write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
