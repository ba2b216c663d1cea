"""What did a run's latents capture: the hidden causes, or the nuisance? (a linear probe per modality)

For each modality, the R² of every true latent and every nuisance variable of a simulated cohort (its
truth/latents.csv and truth/nuisance.csv) from a linear regression on that modality's learned latents
(the run's latents.csv). A model that recovers the causes scores high on the true latents and near zero on
the nuisance, which belongs in its η dimensions. Writes bench/results/latent_probe-<name>.md.

    python bench/latent_probe.py assets/demo/run --name demo
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _common import RESULTS, invocation

from crl.run_folder import recorded_cohort_path


def r2(features: np.ndarray, target: np.ndarray) -> float:
    """In-sample R² of an ordinary least-squares fit with an intercept."""
    design = np.c_[features, np.ones(len(features))]
    coef = np.linalg.lstsq(design, target, rcond=None)[0]
    return float(1.0 - np.mean((target - design @ coef) ** 2) / np.var(target))


def probe(run: Path, cohort: Path) -> list[dict]:
    learned = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")

    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(cohort / "truth" / name, dtype={"subject_id": str}).set_index("subject_id")

    truth, nuisance = read("latents.csv"), read("nuisance.csv")
    names = {}
    for file, key in (("latent_names.csv", "latent"), ("nuisance_names.csv", "nuisance")):
        if (cohort / "truth" / file).exists():
            table = pd.read_csv(cohort / "truth" / file)
            names.update(zip(table[key], table["name"], strict=True))
    subjects = learned.index.intersection(truth.index).intersection(nuisance.index)
    rows = []
    for modality in dict.fromkeys(c.split(".")[0] for c in learned.columns):
        mine = learned.loc[subjects, [c for c in learned.columns if c.startswith(modality + ".")]].to_numpy()
        for kind, table in (("cause", truth), ("nuisance", nuisance)):
            for column in [c for c in table.columns if c.startswith(modality + ".")]:
                value = r2(mine, table.loc[subjects, column].to_numpy())
                rows.append(
                    {"modality": modality, "kind": kind, "variable": names.get(column, column), "r2": value}
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path)
    parser.add_argument("--cohort", type=Path, help="the simulated cohort (default: the one the run records)")
    parser.add_argument("--name", required=True, help="results file: bench/results/latent_probe-<name>.md")
    args = parser.parse_args()
    cohort = args.cohort or recorded_cohort_path(args.run)
    if cohort is None:
        raise SystemExit("the run records no cohort: pass --cohort")
    rows = probe(args.run, cohort)
    lines = [
        "# Linear probe: R² of the true causes and of the nuisance from each modality's learned latents",
        "",
        f"Command: `{invocation('latent_probe.py')}`  ",
        f"Run {args.run}, cohort {cohort}. High on causes and low on nuisance is what recovery looks like.",
        "",
        "| modality | causes (R² each) | mean | nuisance (R² each) | mean |",
        "|---|---|---|---|---|",
    ]
    for modality in dict.fromkeys(r["modality"] for r in rows):
        cells = []
        for kind in ("cause", "nuisance"):
            mine = [r for r in rows if r["modality"] == modality and r["kind"] == kind]
            cells += [
                ", ".join(f"{r['variable']} {r['r2']:.2f}" for r in mine),
                f"{np.mean([r['r2'] for r in mine]):.2f}",
            ]
        lines.append(f"| {modality} | " + " | ".join(cells) + " |")
    path = RESULTS / f"latent_probe-{args.name}.md"
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())


if __name__ == "__main__":
    main()
