"""What did a run's latents capture: the hidden causes, or the nuisance? (a probe per modality)

For each modality, the R² of every true latent and every nuisance variable of a simulated cohort (its
truth/latents.csv and truth/nuisance.csv) from that modality's learned latents (the run's latents.csv): the
held-out kernel-ridge R² of crl.analysis.metrics.r2_heldout, as `crl evaluate` reports, on a fixed 80/20 split. A model that recovers the causes scores high on the true latents and near zero on
the nuisance, which belongs in its η dimensions. Writes bench/results/latent_probe-<name>.md.

With --pca K, each image modality also gets the floor to beat: the same probe from its first K principal
components (fitted on the probe's training rows), what a linear code of the photographs holds (issue 22).

    python bench/latent_probe.py assets/demo/run --name demo
    python bench/latent_probe.py assets/demo/run --name demo --pca 50
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _common import RESULTS, invocation

from crl.analysis.metrics import r2_heldout
from crl.runs.folder import recorded_cohort_path


def pca_codes(cohort: Path, subjects: pd.Index, train: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per image modality, the first k principal components of each subject's photograph (rows = subjects)."""
    from crl.data.load import load_cohort

    loaded = load_cohort(cohort)
    position = pd.Index(loaded.subject_ids).get_indexer(subjects)
    if (position < 0).any():
        raise SystemExit("some probed subjects are not in the cohort as loaded")
    codes = {}
    for name, modality in loaded.modalities.items():
        if modality.kind != "image":
            continue
        flat = np.asarray(modality.data[position], dtype=np.float64).reshape(len(subjects), -1)
        centre = flat[train].mean(0)
        _, _, vt = np.linalg.svd(flat[train] - centre, full_matrices=False)
        codes[name] = (flat - centre) @ vt[:k].T
    return codes


def probe(run: Path, cohort: Path, pca: int = 0) -> list[dict]:
    learned = pd.read_csv(run / "latents.csv", dtype={"subject_id": str}).set_index("subject_id")
    learned = learned.drop(columns=["inferred"], errors="ignore")  # which values were inferred (issue 24)

    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(cohort / "truth" / name, dtype={"subject_id": str}).set_index("subject_id")

    truth, nuisance = read("latents.csv"), read("nuisance.csv")
    names = {}
    for file, key in (("latent_names.csv", "latent"), ("nuisance_names.csv", "nuisance")):
        if (cohort / "truth" / file).exists():
            table = pd.read_csv(cohort / "truth" / file)
            names.update(zip(table[key], table["name"], strict=True))
    subjects = learned.index.intersection(truth.index).intersection(nuisance.index)
    order = np.random.default_rng(0).permutation(len(subjects))
    train, test = order[len(order) // 5 :], order[: len(order) // 5]
    codes = pca_codes(cohort, subjects, train, pca) if pca else {}
    rows = []
    sources = [
        (m, m, learned.loc[subjects, [c for c in learned.columns if c.startswith(m + ".")]].to_numpy())
        for m in dict.fromkeys(c.split(".")[0] for c in learned.columns)
    ]
    sources += [(f"{m} (PCA-{pca} floor)", m, code) for m, code in codes.items()]
    for label, modality, mine in sources:
        for kind, table in (("cause", truth), ("nuisance", nuisance)):
            columns = [c for c in table.columns if c.startswith(modality + ".")]
            scores = r2_heldout(table.loc[subjects, columns].to_numpy(), mine, train, test).per_latent
            rows += [
                {"modality": label, "kind": kind, "variable": names.get(c, c), "r2": float(v)}
                for c, v in zip(columns, scores, strict=True)
            ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path)
    parser.add_argument("--cohort", type=Path, help="the simulated cohort (default: the one the run records)")
    parser.add_argument("--name", required=True, help="results file: bench/results/latent_probe-<name>.md")
    parser.add_argument("--pca", type=int, default=0, help="also probe K principal components of each image")
    args = parser.parse_args()
    cohort = args.cohort or recorded_cohort_path(args.run)
    if cohort is None:
        raise SystemExit("the run records no cohort: pass --cohort")
    rows = probe(args.run, cohort, args.pca)
    lines = [
        "# Probe: held-out R² of the true causes and of the nuisance from each modality's learned latents",
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
