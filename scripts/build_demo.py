"""Rebuild the shipped demo: assets/demo/cohort (`crl synth demo`) and assets/demo/run (a model trained on it).

    python scripts/build_demo.py [--out assets/demo] [--keep-work DIR]

Steps: write the demo cohort (n = 2000, seed 0; byte-identical on every machine), train on it on the CPU with
one thread and the settings in DEMO_SETTINGS (seeded, so the same machine and torch build give the same run),
then make the run shippable: drop the resumable optimiser state, point config.json at the cohort as "../cohort"
(relative to the run, so the pair can be copied anywhere), store the weights in float16 (rewriting latents.csv,
eta.csv and graph.csv from the rounded weights, latents to 5 significant digits), and save plain latent names
(names.json) taken from the cohort's truth through the MCC matching, and store the scores (evaluation.json). A run that `crl stability` gave restarts
(`--trained-run`) has its confidence files recomputed on the shipped weights. Finally print `crl evaluate`'s
scores.
The old assets/demo is replaced only once everything succeeded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# One thread: reproducible sums, and on a shared 2-core machine two torch threads slow each other down badly.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
N_SUBJECTS = 2000
SEED = 0
# The photographs: an MLP on 64 whitened principal components (encoder family "pca"). The ResNets the demo
# shipped with first stopped at the error of a 3-component PCA within the steps a CPU build affords, and their
# eye latents matched the truth at MCC 0.08 / 0.19; "pca" reaches 0.58 / 0.59 at 300 epochs, and its steps are
# cheap enough for those epochs (bench/results/demo-images.md, FINDINGS.md "Session 14"). The sleep test keeps
# a 1-D CNN, narrowed to width 16 to train in CPU time. eta: the demo's photographs vary in 6 named nuisance
# ways (illumination, pigmentation, rotation, two offsets, camera noise) plus each subject's own vessel
# layout, and its sleep recordings in 3; with the default single eta dimension those would crowd the 3 latents
# out of a modality. 12 per eye rather than 6 gives the layout room too (6 per eye: MCC 0.22 / 0.25).
DEMO_SETTINGS = [
    "modalities.fundus_left.encoder=pca",
    "modalities.fundus_right.encoder=pca",
    "modalities.fundus_left.width=256",
    "modalities.fundus_right.width=256",
    "modalities.fundus_left.depth=2",
    "modalities.fundus_right.depth=2",
    "modalities.fundus_left.eta=12",
    "modalities.fundus_right.eta=12",
    "modalities.sleep.width=16",
    "modalities.sleep.eta=3",
    "train.batch_size=128",
    "train.epochs=300",
    "train.min_steps=0",
    # The shipped run keeps to the subjects present in every modality, as it was built before subjects lacking
    # one could be trained on (train.missing_modalities): its latents.csv then covers exactly the subjects
    # load_cohort gives by default (tests/test_demo_assets.py).
    "train.missing_modalities=drop",
    # Block unmixing (the default since it was measured on the paper's cases) trades the eyes for the sleep test
    # here: 6 rounds gave MCC 0.66 / 0.56 / 0.55 (sleep / left / right) against 0.57 / 0.58 / 0.59 without,
    # and one cross-modal link fewer (bench/results/demo-unmix6.md), so the shipped run is built without it.
    "prior.unmix=0",
]
# Files a shipped run does without: resumable optimiser state and live-job bookkeeping.
DROP = ("training_state.pt", "heartbeat.json", "STOP", "job.json")
# status.json fields that describe the machine that trained it, not the run.
MACHINE_FIELDS = ("pid", "host", "boot_id", "session_leader")


def _crl(*args: str) -> None:
    from crl.cli import main

    code = main(list(args))
    if code != 0:
        raise SystemExit(f"crl {' '.join(args)} failed with exit code {code}")


def shrink_weights(run: Path, cohort: Path):
    """Store model.pt in float16 (half the bytes) and rewrite latents.csv and graph.csv from the rounded weights,
    so every shipped file agrees with what `load_run` rebuilds (it loads the weights into float32 parameters).
    The latents are turned to their canonical signs first (a no-op for a run trained since `crl train` does it;
    a run trained before is oriented here). Returns the rounded model."""
    import torch

    from crl.data.load import load_cohort
    from crl.engine.encode import by_modality, eta_table, latent_table, posterior_means
    from crl.engine.orientation import orient
    from crl.runs.checkpoint import META_FILE, MODEL_FILE, load_run
    from crl.runs.files import atomic_write_json, atomic_write_text
    from crl.runs.folder import RunFolder
    from crl.runs.results import write_drivers
    from crl.runs.run import Run

    model, _, normaliser = load_run(run)
    data = load_cohort(cohort)
    orient(model, data, normaliser)
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(half, run / MODEL_FILE)
    model.load_state_dict(half)  # copied into the float32 parameters: the weights every reader will see
    meta = json.loads((run / META_FILE).read_text())
    meta["weights_dtype"] = "float16"
    atomic_write_json(run / META_FILE, meta)

    z, eta = posterior_means(model, data, normaliser)
    for name, table in (
        ("latents.csv", latent_table(model, data, by_modality(model, z))),
        ("eta.csv", eta_table(model, data, eta)),
    ):
        atomic_write_text(run / name, table.to_csv(index=False, float_format="%.5g", lineterminator="\n"))
    RunFolder(run).write_graph(model.latent_names, model.strengths())
    write_drivers(run, Run(run).latents(), data)  # from the latents as shipped (5 significant digits)
    return model


def finalise_run(run: Path, cohort: Path) -> dict[str, str]:
    """Make `run` shippable beside `cohort` (its sibling folder); returns the plain names written."""
    import pandas as pd

    from crl.analysis.confidence import update_run_confidence
    from crl.analysis.names import default_names, plain_names, save_names
    from crl.analysis.stored_evaluation import write_evaluation
    from crl.runs.confidence import restart_count
    from crl.runs.files import atomic_write_json, atomic_write_text
    from crl.runs.run import Run

    for name in DROP:
        (run / name).unlink(missing_ok=True)
    config = json.loads((run / "config.json").read_text())
    config["cohort"]["root"] = os.path.relpath(cohort, run)
    atomic_write_json(run / "config.json", config)
    status = json.loads((run / "status.json").read_text())
    for key in MACHINE_FIELDS:
        status.pop(key, None)
    atomic_write_json(run / "status.json", status)
    model = shrink_weights(run, cohort)
    if restart_count(run) >= 2:  # restarts added by `crl stability`: their confidence, on the shipped weights
        for table in sorted(
            (run / "restarts").glob("[0-9]*/latents.csv")
        ):  # 5 significant digits, as the run's
            rounded = pd.read_csv(table, dtype={"subject_id": str})
            atomic_write_text(table, rounded.to_csv(index=False, float_format="%.5g", lineterminator="\n"))
        update_run_confidence(run, model, int(status.get("kept_restart", 0) or 0), Run(run).threshold())

    table = Run(run).latents()
    names = plain_names(cohort, table)
    save_names(run, names, default_names(list(table.columns)))
    write_evaluation(run)  # the scores of the run as shipped, so the first screen need not compute them
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "demo", help="folder to (re)write")
    parser.add_argument(
        "--keep-work", type=Path, default=None, help="build here and keep it (default: a temp)"
    )
    parser.add_argument(
        "--trained-run",
        type=Path,
        default=None,
        help="reuse a finished run trained on the demo cohort with exactly these settings instead of training",
    )
    parser.add_argument("--n", type=int, default=N_SUBJECTS, help="subjects (only to try the script quickly)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="extra setting (trials)"
    )
    args = parser.parse_args(argv)

    import torch

    from crl.config import Config, resolve_config
    from crl.data.load import load_cohort

    torch.set_num_threads(1)
    settings = DEMO_SETTINGS + args.set
    work = args.keep_work or Path(tempfile.mkdtemp(prefix="crl-demo-"))
    cohort, run = work / "cohort", work / "run"
    for folder in (cohort, run):
        if folder.exists():
            shutil.rmtree(folder)
    _crl("synth", "demo", "--out", str(cohort), "--n", str(args.n), "--seed", str(SEED))
    started = time.perf_counter()
    if args.trained_run is not None:
        wanted = resolve_config(load_cohort(cohort).schema(), None, settings, "cpu", SEED)
        # Compared as Config objects: settings added since the run was trained take their defaults in both.
        recorded = Config.from_dict(json.loads((args.trained_run / "config.json").read_text())["config"])
        if recorded != wanted:
            raise SystemExit(
                f"{args.trained_run} was trained with other settings than DEMO_SETTINGS; train again"
            )
        shutil.copytree(args.trained_run, run)
    else:
        overrides = [x for setting in settings for x in ("--set", setting)]
        _crl("train", str(cohort), "--out", str(run), "--device", "cpu", "--seed", str(SEED), *overrides)
    minutes = (time.perf_counter() - started) / 60
    names = finalise_run(run, cohort)

    from crl.analysis.evaluate import evaluate_run

    scores = evaluate_run(run)
    target = args.out
    target.mkdir(parents=True, exist_ok=True)
    for name, source in (("cohort", cohort), ("run", run)):
        if (target / name).exists():
            shutil.rmtree(target / name)
        shutil.copytree(source, target / name)
    if args.keep_work is None:
        shutil.rmtree(work, ignore_errors=True)
    print(f"trained in {minutes:.1f} min; wrote {target / 'cohort'} and {target / 'run'}")
    print(f"plain names: {json.dumps(names)}")
    keys = ("mcc", "mcc_per_modality", "r2", "shd", "shd_cross_modal")
    print(json.dumps({k: scores[k] for k in keys} | {"graph": scores["graph"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
