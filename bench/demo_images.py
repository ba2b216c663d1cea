"""The demo cohort's photographs: does a training setting let their causes reach the latents? (issue 22)

Each variant trains `crl train` on the shipped demo cohort (assets/demo/cohort) with scripts/build_demo.py's
DEMO_SETTINGS plus the variant's own `--set` overrides, on one CPU thread, then scores it with `crl evaluate`
(MCC per modality, R² per true latent, the graph) and probes it with bench/latent_probe.py (R² of every cause
and nuisance from each modality's latents). The first line of the results is the floor to beat: the same probe
from 50 principal components of each photograph. Runs are kept under --workdir; a finished one is scored again
without training. Writes bench/results/<name>.md and .json.

    python bench/demo_images.py --name demo-images \\
        --variant "resnet (shipped settings)=" \\
        --variant "pca=modalities.fundus_left.encoder=pca,modalities.fundus_right.encoder=pca,..."
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS, ROOT, invocation, save_runs
from latent_probe import probe

sys.path.insert(0, str(ROOT / "scripts"))
from build_demo import DEMO_SETTINGS  # noqa: E402  (the shipped model's settings, one source)

COHORT = ROOT / "assets" / "demo" / "cohort"


def train(run: Path, overrides: list[str], seed: int) -> float:
    """Train one variant (unless its run folder is finished) and return the seconds it took (0 when reused)."""
    if (run / "latents.csv").exists():
        return 0.0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "crl.cli", "train", str(COHORT), "--out", str(run), "--device", "cpu"]
    command += ["--seed", str(seed)] + [arg for s in DEMO_SETTINGS + overrides for arg in ("--set", s)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def evaluate(run: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "crl.cli", "evaluate", str(run), "--truth", str(COHORT)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        metavar="LABEL[@SEEDS]=KEY=VALUE,...",
        help="a label (with its own comma-separated seeds after '@'), '=', then comma-separated overrides "
        "(none: the shipped settings)",
    )
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    parser.add_argument("--workdir", default="/tmp/crl-bench-demo-images")
    parser.add_argument("--name", default="demo-images")
    args = parser.parse_args()

    rows = []
    floor = None
    for spec in args.variant:
        label, _, rest = spec.partition("=")
        label, _, seeds = label.partition("@")
        overrides = [s for s in rest.split(",") if s]
        for seed in [int(s) for s in (seeds or args.seeds).split(",")]:
            run = Path(args.workdir) / f"{label.replace(' ', '_')}-seed{seed}"
            seconds = train(run, overrides, seed)
            metrics = evaluate(run)
            probed = probe(run, COHORT, pca=50 if floor is None else 0)
            if floor is None:
                floor = [r for r in probed if "PCA" in r["modality"]]
            causes = {
                r["variable"]: r["r2"] for r in probed if r["kind"] == "cause" and "PCA" not in r["modality"]
            }
            nuisance = [r["r2"] for r in probed if r["kind"] == "nuisance" and "PCA" not in r["modality"]]
            row = {
                "variant": label,
                "overrides": overrides,
                "seed": seed,
                "train_seconds": round(seconds, 1),
                "mcc_per_modality": metrics["mcc_per_modality"],
                "r2_causes": causes,
                "nuisance_r2_mean": sum(nuisance) / len(nuisance),
                "shd": metrics["graph"]["total"],
                "cross_missing": metrics["graph"]["cross"]["deletions"],
                "cross_extra": metrics["graph"]["cross"]["additions"],
                "adjacency_f1": metrics["graph"]["adjacency_f1"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    save_runs(args.name, args, rows)
    write_markdown(args.name, rows, floor or [])


def write_markdown(name: str, rows: list[dict], floor: list[dict]) -> None:
    causes = list(rows[0]["r2_causes"])
    lines = [
        "# The demo's photographs: which setting lets their causes reach the latents",
        "",
        f"Command: `{invocation('demo_images.py')}`  ",
        "Each run: `crl train assets/demo/cohort` with scripts/build_demo.py's DEMO_SETTINGS and the overrides, one "
        "CPU thread; scored by `crl evaluate` and bench/latent_probe.py (held-out kernel-ridge R²). Train seconds "
        "are wall time on a shared 2-core machine (0: a finished run reused).",
        "",
        "Floor to beat, R² from 50 principal components of each photograph: "
        + "; ".join(f"{r['variable']} {r['r2']:.2f}" for r in floor if r["kind"] == "cause"),
        "",
        "| variant | seed | MCC sleep / left eye / right eye | "
        + " | ".join(causes)
        + " | nuisance R² (mean) | SHD | cross-modal missing / extra | adjacency F1 | train s |",
        "|---|---|---|" + "---|" * len(causes) + "---|---|---|---|---|",
    ]
    for r in rows:
        mcc = " / ".join(f"{v:.2f}" for v in r["mcc_per_modality"].values())
        lines.append(
            f"| {r['variant']} | {r['seed']} | {mcc} | "
            + " | ".join(f"{r['r2_causes'][c]:.2f}" for c in causes)
            + f" | {r['nuisance_r2_mean']:.2f} | {r['shd']} | {r['cross_missing']} / {r['cross_extra']} | "
            f"{r['adjacency_f1']:.2f} | {r['train_seconds']:.0f} |"
        )
    lines += ["", "Overrides per variant:", ""]
    for label in dict.fromkeys(r["variant"] for r in rows):
        overrides = next(r["overrides"] for r in rows if r["variant"] == label)
        lines.append(f"- {label}: " + (", ".join(f"`{o}`" for o in overrides) or "none"))
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print((RESULTS / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
