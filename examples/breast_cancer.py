"""Real data end to end: scikit-survival's breast-cancer cohort -> crl run -> what the latents correlate with.

Needs the optional extra: pip install 'crl[realdata]'  (scikit-survival; the data ship inside the package).

    python examples/breast_cancer.py --out breast-cancer-example

writes `<out>/cohort` (expression + clinical modalities, outcome as covariates) and `<out>/run` (open it in the
dashboard), then prints: each latent's Spearman correlation with the clinical variables and with the time to
distant metastasis, its concordance index for metastasis-free time, the learned graph above the threshold, and
PC's links between latents and the outcome. What this can and cannot claim: docs/real-data.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from crl.analysis.covariates import link_covariates
from crl.analysis.graph import load_graph
from crl.cli import main as crl_main
from crl.data.realdata import write_breast_cancer
from crl.errors import CrlError

THRESHOLD = 0.5
# 198 patients: small batches give the optimiser enough steps, and small networks keep it from overfitting. With
# the default 128-wide networks the validation loss is lowest after about 20 epochs, so the restored best weights
# date from the graph's warm-up and every edge keeps its initial strength 0.5.
TRAIN_SETTINGS = [
    "train.batch_size=32",
    "train.epochs=200",
    "train.min_steps=0",  # the 200 epochs these numbers were measured with (docs/real-data.md)
    "modalities.expression.width=32",
    "modalities.expression.depth=2",
    "modalities.clinical.width=16",
    "modalities.clinical.depth=2",
]


def correlations(latents: pd.DataFrame, clinical: pd.DataFrame, outcome: pd.DataFrame) -> pd.DataFrame:
    """Latent rows; Spearman rho with each clinical variable and with time to metastasis among patients whose
    metastasis was observed (censored times are lower bounds, not times); plus Harrell's C for metastasis-free
    time with the latent as a risk score (0.5 = no information; below 0.5, higher values mean later metastasis).
    """
    from sksurv.metrics import concordance_index_censored

    rows = {}
    events = outcome["metastasis"].astype(bool).to_numpy()
    times = outcome["time_to_metastasis_days"].to_numpy(float)
    for latent in latents.columns:
        z = latents[latent].to_numpy(float)
        row = {f"rho {c}": spearmanr(z, clinical[c]).statistic for c in clinical.columns}
        row["rho time (events)"] = spearmanr(z[events], times[events]).statistic
        row["p time (events)"] = spearmanr(z[events], times[events]).pvalue
        row["C-index"] = concordance_index_censored(events, times, z)[0]
        rows[latent] = row
    return pd.DataFrame(rows).T


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("breast-cancer-example"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true", help="train again even when <out>/run is finished")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="extra training setting"
    )
    args = parser.parse_args(argv)
    cohort, run = args.out / "cohort", args.out / "run"
    try:
        if not (cohort / "cohort.toml").exists():
            write_breast_cancer(cohort)
            print(f"wrote {cohort}")
    except CrlError as error:
        print(error, file=sys.stderr)
        return 1
    if args.retrain or not (run / "graph.csv").exists():
        overrides = [x for setting in TRAIN_SETTINGS + args.set for x in ("--set", setting)]
        code = crl_main(
            ["train", str(cohort), "--out", str(run), "--device", "cpu", "--seed", str(args.seed), *overrides]
        )
        if code != 0:
            return code
    latents = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")
    clinical = pd.read_csv(cohort / "clinical.csv", dtype={"subject_id": str}).set_index("subject_id")
    outcome = pd.read_csv(cohort / "outcome.csv", dtype={"subject_id": str}).set_index("subject_id")
    clinical, outcome = clinical.loc[latents.index], outcome.loc[latents.index]

    pd.set_option("display.width", 160)
    print(f"\n{len(latents)} patients, {int(outcome['metastasis'].sum())} distant metastases observed")
    print("\nWhat each latent correlates with (Spearman rho; C-index for metastasis-free time):")
    print(correlations(latents, clinical, outcome).round(2).to_string())

    graph = load_graph(run)
    edges = graph.edges(THRESHOLD)
    print(f"\nLearned latent graph, edges with strength >= {THRESHOLD}:")
    for row in edges.itertuples():
        kind = "cross-modal" if row.cross_modal else "within a modality"
        print(f"  {row.source:>14} -> {row.target:<14} {row.weight:.2f}  {kind}")
    if edges.empty:
        print("  none")
    candidates = graph.edges(0.0, cross_modal_only=True).head(4)
    print("Strongest cross-modal candidates (whatever their strength):")
    for row in candidates.itertuples():
        print(f"  {row.source:>14} -> {row.target:<14} {row.weight:.2f}")

    links = link_covariates(latents, outcome, alpha=0.1)
    print("\nPC (Fisher-z, alpha 0.1) on latents + outcome, links that touch the outcome:")
    touching = links.edges[links.edges["kind"] != "latent–latent"]
    if touching.empty:
        print("  none")
    for row in touching.itertuples():
        print(f"  {row.a} {row.orientation} {row.b}  |r| = {row.strength:.2f}")
    print(
        f"\nTo browse it: CRL_RUNS={args.out.resolve()} make app, then pick the cohort folder {cohort.resolve()} "
        "on the Cohort page (Folder on this server) and the run 'run' on the Latent graph page."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
