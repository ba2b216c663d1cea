"""Missing modalities (issue 24): training on every subject ("infer") against the complete subjects ("drop").

Each (preset, seed) is one synthetic cohort with truth from which each modality is removed independently for
`--missing` of the subjects (seeded); both policies train on that same cohort with the defaults (plus
train.missing_modalities). A subject left with no modality is left out by both. Scores (crl.analysis.evaluate's
`score`: per-modality matching, docs/method.md §6):

- MCC / R², complete subjects: the subjects present in every modality, the same for both policies;
- MCC / R², all subjects: every subject trained on; for "infer" the latents of a modality a subject lacks are
  the imputer's (inferred through the learned graph). Not defined for "drop", which has no latents for them: —;
- inferred |r|: for "infer", the mean |corr| of each true latent with its matched learned latent (matching of
  the complete subjects) over the subjects whose modality was missing: how well the inferred values track truth;
- cross-modal SHD of the learned graph at the default threshold.

Writes bench/results/<name>.md and .json. Run alone (two torch processes on two cores slow each other down).

    python bench/missing.py --presets paper-case1 --seeds 3 --threads 1
    python bench/missing.py --presets paper-case1,paper-case2 --seeds 3 --missing 0.3 --threads 1
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
import torch
from _common import RESULTS, edge_table, invocation, save_runs

from crl.analysis.evaluate import score
from crl.config import apply_overrides, default_config
from crl.core.model import build_model
from crl.data.synthetic import generate
from crl.engine.fit import encode_cohort, fit, latent_table
from crl.graphs.names import split_latent_name

POLICIES = ("drop", "infer")


def remove_modalities(synthetic, fraction: float, seed: int) -> None:
    """Remove each modality, independently, from `fraction` of the subjects (in place, seeded)."""
    rng = np.random.default_rng(10_000 + seed)
    for m in synthetic.modalities.values():
        keep = rng.random(len(synthetic.subject_ids)) >= fraction
        m.subject_ids = synthetic.subject_ids[keep]
        m.data = m.data[keep]


def run_one(
    preset: str, seed: int, policy: str, fraction: float, n: int | None, overrides: list[str]
) -> dict:
    synthetic = generate(preset, n=n, seed=seed)
    truth = synthetic.truth
    remove_modalities(synthetic, fraction, seed)
    everyone = synthetic.to_cohort("infer")
    complete = pd.Index(everyone.subject_ids[everyone.complete])
    cohort = synthetic.to_cohort(policy)
    config = apply_overrides(
        default_config(cohort.schema()),
        [f"train.seed={seed}", f"train.missing_modalities={policy}", *overrides],
    )
    model = build_model(config, cohort.schema())
    started = time.perf_counter()
    result = fit(model, cohort, config)
    seconds = time.perf_counter() - started
    latents = latent_table(model, cohort, encode_cohort(model, cohort, result.normaliser)).set_index(
        "subject_id"
    )
    edges = edge_table(model)
    on_complete = score(latents.loc[complete], edges, truth, seed=seed)
    row = {
        "preset": preset,
        "seed": seed,
        "policy": policy,
        "missing": fraction,
        "subjects": len(everyone),
        "complete": len(complete),
        "trained": len(cohort),
        "mcc_complete": on_complete["mcc"],
        "r2_complete": on_complete["r2"],
        "shd_cross_modal": on_complete.get("shd_cross_modal"),
        "mcc_all": None,
        "r2_all": None,
        "inferred_r": None,
        "train_seconds": seconds,
        "epochs": result.epochs_run,
    }
    if policy == "infer":
        on_all = score(latents, None, truth, seed=seed)
        row.update(mcc_all=on_all["mcc"], r2_all=on_all["r2"])
        tracked = []
        for true_name, learned in on_complete["matching"].items():
            modality = split_latent_name(true_name)[0]
            lacking = everyone.subject_ids[~everyone.presence(modality)]
            if len(lacking) > 2:
                t = truth.latents.loc[lacking, true_name].to_numpy(float)
                e = latents.loc[lacking, learned].to_numpy(float)
                tracked.append(abs(np.corrcoef(t, e)[0, 1]))
        row["inferred_r"] = float(np.mean(tracked)) if tracked else None
    return row


COLUMNS = {
    "trained": "subjects trained on",
    "mcc_complete": "MCC, complete subjects",
    "mcc_all": "MCC, all subjects",
    "inferred_r": "inferred |r|",
    "r2_complete": "R², complete",
    "r2_all": "R², all",
    "shd_cross_modal": "cross-modal SHD",
    "train_seconds": "train s",
}


def _cell(values: pd.Series, column: str) -> str:
    values = values.dropna().astype(float)
    if values.empty:
        return "—"
    digits = 0 if column in ("trained", "train_seconds") else 1 if column == "shd_cross_modal" else 3
    text = f"{values.mean():.{digits}f}"
    return text + (f" ± {values.std():.{digits}f}" if len(values) > 1 else "")


def table(rows: list[dict], keys: list[str]) -> str:
    frame = pd.DataFrame(rows)
    lines = [
        "| " + " | ".join([*keys, *COLUMNS.values()]) + " |",
        "|" + "---|" * (len(keys) + len(COLUMNS)),
    ]
    for key, group in frame.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        lines.append("| " + " | ".join([*map(str, key), *(_cell(group[c], c) for c in COLUMNS)]) + " |")
    return "\n".join(lines)


def write(rows: list[dict], args: argparse.Namespace) -> None:
    save_runs(args.name, args, rows)
    lines = [
        "# Missing modalities: infer against drop",
        "",
        f"Command: `{invocation('missing.py')}`  ",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}.  ",
        f"Each modality removed independently from {args.missing:.0%} of the subjects (seeded); a subject left with "
        "none is left out by both policies. Both policies train on the same cohort in the same run, defaults "
        "otherwise. Complete subjects: present in every modality (the same for both). All subjects: every "
        "subject trained on, the latents of a lacking modality inferred (— for drop, which has none for them). "
        "Inferred |r|: mean |corr| of each true latent with its matched learned one over the subjects lacking its "
        "modality. Mean ± sd over seeds; per-run numbers in the JSON.",
        "",
        table(rows, ["preset", "policy"]),
        "",
        "Per seed:",
        "",
        table(rows, ["preset", "seed", "policy"]),
        "",
    ]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="paper-case1")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--missing", type=float, default=0.3, help="share of subjects each modality is removed from"
    )
    parser.add_argument("--n", type=int, default=None, help="subjects (default: each preset's own size)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--name", default="missing", help="results file name in bench/results (no suffix)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for preset in args.presets.split(","):
        for seed in range(args.seeds):
            for policy in POLICIES:
                rows.append(run_one(preset, seed, policy, args.missing, args.n, list(args.set)))
                r = rows[-1]
                print(
                    f"{preset} seed {seed} {policy:5s} trained {r['trained']} MCC complete {r['mcc_complete']:.3f} "
                    f"all {r['mcc_all'] if r['mcc_all'] is None else round(r['mcc_all'], 3)} "
                    f"cross-SHD {r['shd_cross_modal']} {r['train_seconds']:.0f}s",
                    flush=True,
                )
                write(rows, args)  # partial results survive an interrupted run


if __name__ == "__main__":
    main()
