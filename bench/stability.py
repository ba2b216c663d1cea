"""Stability across restarts: can agreement between runs tell which latents and links to believe?

For each synthetic cohort (data seed d) it trains R restarts as `train.restarts=R` does (model seeds d … d+R-1
on the validation split drawn from d), then, with crl.analysis.stability:
- link precision: of the shown run's links present in >= 80 % of the restarts, the share that are true links
  (after mapping learned latents to true ones by the MCC matching), against a single run's links at 0.5;
- latent stability against truth: Spearman correlation, over every shown latent, between its stability (mean
  matched |corr| with the other restarts) and its |corr| with the true latent it matches; and the share of
  latents with stability >= 0.9 that match a true latent with |corr| >= 0.85;
- which restart to show: MCC of the agreement pick, of the validation-loss pick (what `train.restarts` keeps),
  of restart 0 and of the best of R.
The shown run is the agreement pick. Writes bench/results/<name>.md and .json.

    python bench/stability.py                               # paper-case1 and -case2, data seeds 0-4, R = 4
    python bench/stability.py --presets paper-case1 --data-seeds 0,1 --restarts 3 --threads 1 --name quick
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from _common import RESULTS, edge_table, invocation, save_runs
from scipy.stats import spearmanr

from crl.analysis.evaluate import score
from crl.analysis.stability import (
    agreement_pick,
    carried_edges,
    latent_stability,
    link_frequency,
    match_latents,
)
from crl.config import apply_overrides, default_config
from crl.core.model import build_model
from crl.data.synthetic import generate
from crl.engine.fit import encode_cohort, fit, latent_table

THRESHOLD = 0.5
FREQUENT = 0.8


def train_restarts(preset: str, data_seed: int, restarts: int, n: int | None) -> tuple[list[dict], object]:
    """Each restart's latents, edges, validation loss and scores on the data seed's cohort."""
    synthetic = generate(preset, n=n, seed=data_seed)
    cohort = synthetic.to_cohort()
    out = []
    for k in range(restarts):
        config = apply_overrides(default_config(cohort.schema()), [f"train.seed={data_seed + k}"])
        model = build_model(config, cohort.schema())
        started = time.perf_counter()
        result = fit(model, cohort, config, split_seed=data_seed)
        latents = latent_table(model, cohort, encode_cohort(model, cohort, result.normaliser)).set_index(
            "subject_id"
        )
        edges = edge_table(model)
        out.append(
            {
                "latents": latents,
                "edges": edges,
                "validation_loss": result.best_validation_loss,
                "metrics": score(latents, edges, synthetic.truth, seed=data_seed),
                "seconds": time.perf_counter() - started,
            }
        )
    return out, synthetic.truth


def _true_links(truth) -> set[tuple[str, str]]:
    return {(str(s), str(t)) for s, t in truth.edges}


def _precision(links: list[tuple[str, str]], to_true: dict[str, str], true_links: set) -> tuple[int, int]:
    """(true, total) among learned links mapped to true latents; links with an unmatched end count as false."""
    hits = sum((to_true.get(s), to_true.get(t)) in true_links for s, t in links)
    return hits, len(links)


def evaluate_cohort(preset: str, data_seed: int, runs: list[dict], truth) -> dict:
    latents = [r["latents"] for r in runs]
    shown = agreement_pick(latents)
    by_loss = int(np.argmin([r["validation_loss"] for r in runs]))
    reference = runs[shown]
    others = [r for k, r in enumerate(runs) if k != shown]
    stability = latent_stability(reference["latents"], [o["latents"] for o in others])
    frequency = link_frequency(
        reference["edges"],
        [(o["edges"], match_latents(reference["latents"], o["latents"])) for o in others],
        THRESHOLD,
    )
    true_links = _true_links(truth)
    to_true_shown = {est: true for true, est in reference["metrics"]["matching"].items()}
    frequent = frequency[frequency["frequency"] >= FREQUENT]
    freq_hits, freq_total = _precision(
        list(zip(frequent["source"], frequent["target"], strict=True)), to_true_shown, true_links
    )
    single = runs[0]
    single_links = single["edges"][single["edges"]["weight"] >= THRESHOLD]
    to_true_single = {est: true for true, est in single["metrics"]["matching"].items()}
    single_hits, single_total = _precision(
        list(zip(single_links["source"], single_links["target"], strict=True)), to_true_single, true_links
    )
    # The same, ignoring direction: orientation inside a Markov equivalence class is not identifiable (FINDINGS.md).
    matchings = [match_latents(reference["latents"], o["latents"]) for o in others]
    own = reference["edges"]
    pairs = {
        frozenset(p)
        for p in zip(
            own["source"][own["weight"] >= THRESHOLD], own["target"][own["weight"] >= THRESHOLD], strict=True
        )
    }
    carried = [
        {frozenset(p) for p in carried_edges(o["edges"], m, THRESHOLD)}
        for o, m in zip(others, matchings, strict=True)
    ]
    frequent_pairs = [p for p in pairs if (1 + sum(p in c for c in carried)) / len(runs) >= FREQUENT]
    true_pairs = {frozenset(e) for e in true_links}
    pair_hits = sum(frozenset(to_true_shown.get(x) for x in p) in true_pairs for p in frequent_pairs)
    single_pairs = {frozenset(p) for p in zip(single_links["source"], single_links["target"], strict=True)}
    single_pair_hits = sum(frozenset(to_true_single.get(x) for x in p) in true_pairs for p in single_pairs)
    true_corr = {}
    common = truth.latents.index.intersection(reference["latents"].index)
    for true_name, est in reference["metrics"]["matching"].items():
        a = truth.latents.loc[common, true_name].to_numpy(float)
        b = reference["latents"].loc[common, est].to_numpy(float)
        true_corr[est] = float(abs(np.corrcoef(a, b)[0, 1]))
    latents_rows = [
        {"latent": name, "stability": float(stability[name]), "true_corr": true_corr.get(name, 0.0)}
        for name in stability.index
    ]
    mccs = [r["metrics"]["mcc"] for r in runs]
    return {
        "preset": preset,
        "data_seed": data_seed,
        "restarts": len(runs),
        "shown": shown,
        "by_loss": by_loss,
        "mcc_agreement": mccs[shown],
        "mcc_loss": mccs[by_loss],
        "mcc_restart0": mccs[0],
        "mcc_best": max(mccs),
        "frequent_true": freq_hits,
        "frequent_total": freq_total,
        "single_true": single_hits,
        "single_total": single_total,
        "frequent_pairs_true": pair_hits,
        "frequent_pairs_total": len(frequent_pairs),
        "single_pairs_true": single_pair_hits,
        "single_pairs_total": len(single_pairs),
        "links_per_restart": [
            [
                (s, t)
                for s, t, w in zip(
                    r["edges"]["source"], r["edges"]["target"], r["edges"]["weight"], strict=True
                )
                if w >= THRESHOLD
            ]
            for r in runs
        ],
        "latents": latents_rows,
        "seconds": sum(r["seconds"] for r in runs),
    }


def summarise(rows: list[dict]) -> str:
    lines = [
        "| preset | cohorts | MCC agreement pick | MCC validation-loss pick | MCC restart 0 | MCC best of R "
        "| precision, links in >= 80 % | precision, one run's links | Spearman(stability, true corr) "
        "| stability >= 0.9 matching a true latent >= 0.85 | precision, adjacencies in >= 80 % | precision, one run's adjacencies |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset in dict.fromkeys(r["preset"] for r in rows):
        rs = [r for r in rows if r["preset"] == preset]
        lat = [x for r in rs for x in r["latents"]]
        rho = spearmanr([x["stability"] for x in lat], [x["true_corr"] for x in lat]).statistic
        stable = [x for x in lat if x["stability"] >= 0.9]
        good = sum(x["true_corr"] >= 0.85 for x in stable)
        ft, fn = sum(r["frequent_true"] for r in rs), sum(r["frequent_total"] for r in rs)
        st, sn = sum(r["single_true"] for r in rs), sum(r["single_total"] for r in rs)
        pt, pn = (
            sum(r.get("frequent_pairs_true", 0) for r in rs),
            sum(r.get("frequent_pairs_total", 0) for r in rs),
        )
        qt, qn = (
            sum(r.get("single_pairs_true", 0) for r in rs),
            sum(r.get("single_pairs_total", 0) for r in rs),
        )

        def mean(key, rs=rs):
            return f"{np.mean([r[key] for r in rs]):.3f}"

        lines.append(
            f"| {preset} | {len(rs)} | {mean('mcc_agreement')} | {mean('mcc_loss')} | {mean('mcc_restart0')} "
            f"| {mean('mcc_best')} | {ft / max(fn, 1):.3f} ({ft}/{fn}) | {st / max(sn, 1):.3f} ({st}/{sn}) "
            f"| {rho:.3f} | {good}/{len(stable)} | {pt / max(pn, 1):.3f} ({pt}/{pn}) | {qt / max(qn, 1):.3f} ({qt}/{qn}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="paper-case1,paper-case2")
    parser.add_argument("--data-seeds", default="0,1,2,3,4")
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="stability")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for preset in args.presets.split(","):
        for data_seed in (int(s) for s in args.data_seeds.split(",")):
            runs, truth = train_restarts(preset, data_seed, args.restarts, args.n)
            row = evaluate_cohort(preset, data_seed, runs, truth)
            rows.append(row)
            print(
                f"{preset} seed {data_seed}: MCC agreement {row['mcc_agreement']:.3f} loss {row['mcc_loss']:.3f} "
                f"best {row['mcc_best']:.3f}; frequent links {row['frequent_true']}/{row['frequent_total']} true, "
                f"single run {row['single_true']}/{row['single_total']} ({row['seconds']:.0f} s)",
                flush=True,
            )
            save_runs(args.name, args, rows)
    text = [
        f"# Stability across restarts ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `{invocation('stability.py')}` on {platform.node() or 'this machine'}, "
        f"torch {torch.__version__}, {args.threads} thread(s).",
        "",
        summarise(rows),
        "",
        "Per cohort (shown = agreement pick, loss = validation-loss pick, restart indices from 0):",
        "",
        "| preset | data seed | shown | loss pick | MCC per pick (agreement / loss / restart 0 / best) |",
        "|---|---|---|---|---|",
        *[
            f"| {r['preset']} | {r['data_seed']} | {r['shown']} | {r['by_loss']} | {r['mcc_agreement']:.3f} / "
            f"{r['mcc_loss']:.3f} / {r['mcc_restart0']:.3f} / {r['mcc_best']:.3f} |"
            for r in rows
        ],
    ]
    (RESULTS / f"{args.name}.md").write_text("\n".join(text) + "\n")
    print(json.dumps({"written": str(RESULTS / f"{args.name}.md")}))


if __name__ == "__main__":
    main()
