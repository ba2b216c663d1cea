"""The GPU check (issue 3): training speed on CUDA, and the images preset trained for longer than 2 CPU cores allow.

One prepared script, so a lent GPU's few minutes go to measuring. It needs only
what the training path needs (torch, numpy, pandas, scipy, pillow; no streamlit, plotly, pyvis or zuko) and
runs from a checkout without installing it. Writes bench/results/<name>.md and .json, rewritten after every
finished run, so a run cut off by its time limit still leaves what it measured.

- Speed: samples/s of training steps at batch 512 (images and paper-case1) with bf16 autocast, in full precision
  (`off`, what `auto` picks) and with TF32 matrix products; with the representation learning (the warm-up) and
  frozen (after it), alternated in rounds.
- Scale (issue 25): the images preset's steps in full precision against today's (batch 512, eager), in one run
  on one card: larger batches, `torch.compile` of the loss, and CUDA graphs through it ("reduce-overhead"),
  with the card's name, so the speed-up is a ratio on the same card.
- Accuracy: the images preset, ours, with images-realign.md's settings, at several epoch counts × seeds, in
  worker processes (one at a time by default); also each fit's end-to-end samples/s.

    python bench/gpu.py                                   # on the GPU, about 5 minutes
    python bench/gpu.py --quick --device cpu --name gpu-check   # checks the script itself, here, in a minute
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import time

import torch
from _common import RESULTS, invocation, save_runs
from _stepping import training_stepper

# images-realign.md's settings: the images preset's best measured configuration on CPU (MCC 0.712 at 20 epochs).
IMAGE_SETTINGS = [
    "modalities.image_a.eta=2",
    "modalities.image_b.eta=2",
    "loss.reconstruction=2",
    "loss.likelihood=0.01",
    "loss.sparsity=0.001",
]


def speed(device: str, presets: list[str], batch: int, steps: int, rounds: int) -> list[dict]:
    """Median samples/s per preset and precision, learning and frozen steps alternated in rounds."""
    from crl.data.synthetic import generate

    rows = []
    for preset in presets:
        cohort = generate(preset, seed=0).to_cohort()
        for precision in ("bf16", "off", "off+tf32"):
            # tf32: full-precision tensors, matrix products on the tensor cores with 10-bit mantissas.
            torch.backends.cuda.matmul.allow_tf32 = precision.endswith("tf32")
            run, _ = training_stepper(
                cohort,
                [f"train.batch_size={batch}", f"train.mixed_precision={precision.split('+')[0]}"],
                device,
            )
            run(3, False), run(3, True)  # kernels chosen, allocator warm
            learning, frozen = [], []
            for _ in range(rounds):
                learning.append(run(steps, False))
                frozen.append(run(steps, True))
            row = {
                "preset": preset,
                "batch": batch,
                "precision": precision,
                "learning": statistics.median(learning),
                "frozen": statistics.median(frozen),
            }
            rows.append(row)
            print(
                f"speed {preset} {precision}: {row['learning']:.0f} / {row['frozen']:.0f} samples/s",
                flush=True,
            )
    return rows


# (label, batch, torch.compile mode): today's step first, the variants after it.
SCALE_VARIANTS = [
    ("today: batch 512, eager", 512, None),
    ("batch 2048, eager", 2048, None),
    ("batch 8192, eager", 8192, None),
    ("batch 512, compiled", 512, "default"),
    ("batch 2048, compiled", 2048, "default"),
    ("batch 2048, compiled with CUDA graphs", 2048, "reduce-overhead"),
]


def scale(device: str, steps: int, rounds: int, quick: bool) -> list[dict]:
    """Samples/s of each SCALE_VARIANTS entry on the images preset (full precision, learning and frozen steps
    alternated in rounds); a variant that fails (a compile error, out of memory) is reported and skipped."""
    from crl.data.synthetic import generate

    cohort = generate("images", n=600 if quick else None, seed=0).to_cohort()
    rows = []
    for label, batch, mode in SCALE_VARIANTS:
        batch = min(batch, 64) if quick else batch
        try:
            run, _ = training_stepper(
                cohort, [f"train.batch_size={batch}", "train.mixed_precision=off"], device, compile_mode=mode
            )
            run(3, False), run(3, True)  # compiled, kernels chosen, allocator warm
            learning, frozen = [], []
            for _ in range(rounds):
                learning.append(run(steps, False))
                frozen.append(run(steps, True))
        except Exception as error:  # noqa: BLE001 - a variant that cannot run is a result too
            print(f"scale {label}: failed ({type(error).__name__}: {str(error)[:200]})", flush=True)
            rows.append({"variant": label, "batch": batch, "error": f"{type(error).__name__}: {error}"[:300]})
            continue
        row = {
            "variant": label,
            "batch": batch,
            "learning": statistics.median(learning),
            "frozen": statistics.median(frozen),
        }
        rows.append(row)
        print(f"scale {label}: {row['learning']:.0f} / {row['frozen']:.0f} samples/s", flush=True)
    return rows


def _fit_images(job: tuple[int, int, str, int | None]) -> dict:
    """One worker's run: the images preset at `epochs` epochs for `seed` (bench/accuracy.py's scoring)."""
    from accuracy import run_one

    epochs, seed, device, n = job
    torch.set_num_threads(1)
    row = run_one(
        "images", seed, "ours", n, [*IMAGE_SETTINGS, f"train.epochs={epochs}", f"train.device={device}"]
    )
    row["preset"] = f"images ({epochs} epochs)"
    row["epochs_asked"] = epochs
    return row


def accuracy(jobs: list[tuple[int, int, str, int | None]], workers: int, budget: float, save) -> list[dict]:
    """Runs `jobs` in `workers` spawned processes (CUDA cannot fork), calling `save(rows)` after each; stops at
    `budget` seconds, leaving the unfinished ones out."""
    rows: list[dict] = []
    deadline = time.monotonic() + budget
    pool = multiprocessing.get_context("spawn").Pool(workers)
    try:
        results = pool.imap_unordered(_fit_images, jobs)
        for _ in jobs:
            row = results.next(timeout=max(deadline - time.monotonic(), 0.01))
            rows.append(row)
            print(
                f"images {row['epochs_asked']} epochs seed {row['seed']}: MCC {row['mcc']:.3f} "
                f"in {row['train_seconds']:.0f} s ({row['epochs']} epochs run)",
                flush=True,
            )
            save(rows)
    except multiprocessing.TimeoutError:
        print(
            f"time budget of {budget:.0f} s spent: {len(jobs) - len(rows)} runs left unfinished", flush=True
        )
    finally:
        pool.terminate()
    return rows


def report(
    args: argparse.Namespace,
    device_name: str,
    speed_rows: list[dict],
    rows: list[dict],
    scale_rows: list[dict] = (),
) -> None:
    save_runs(
        args.name,
        args,
        [*({"kind": "speed", **r} for r in speed_rows), *({"kind": "scale", **r} for r in scale_rows), *rows],
    )
    lines = [
        "# GPU check: training speed and the images preset trained longer",
        "",
        f"Command: `{invocation('gpu.py')}`  ",
        f"Machine: {device_name}; torch {torch.__version__}, python {platform.python_version()}.  ",
    ]
    if speed_rows:
        lines += [
            "",
            "## Training-step speed",
            "",
            "Median samples/s over rounds alternating steps with the representation learning (the warm-up) and",
            "frozen (after it); `bf16` autocast, `off` full fp32 (what `auto` picks), `off+tf32` with TF32 products.",
            "",
            "| preset | batch | precision | learning (warm-up) | frozen (after it) |",
            "|---|---|---|---|---|",
            *[
                f"| {r['preset']} | {r['batch']} | {r['precision']} | {r['learning']:.0f} | {r['frozen']:.0f} |"
                for r in speed_rows
            ],
        ]
    if scale_rows:
        base = scale_rows[0].get("learning")
        lines += [
            "",
            "## Scale: variants of the images preset's step against today's, on this card",
            "",
            "Full precision; median samples/s over rounds alternating learning and frozen steps. Ratio: learning",
            "samples/s over today's (the first row).",
            "",
            "| variant | batch | learning (warm-up) | frozen (after it) | ratio |",
            "|---|---|---|---|---|",
            *[
                f"| {r['variant']} | {r['batch']} | failed: {r['error']} | | |"
                if "error" in r
                else f"| {r['variant']} | {r['batch']} | {r['learning']:.0f} | {r['frozen']:.0f} | "
                f"{r['learning'] / base:.2f} |"
                if base
                else f"| {r['variant']} | {r['batch']} | {r['learning']:.0f} | {r['frozen']:.0f} | |"
                for r in scale_rows
            ],
        ]
    if "images" in args.parts.split(","):
        lines += _images_section(args, rows)
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")


def _images_section(args: argparse.Namespace, rows: list[dict]) -> list[str]:
    """Markdown lines for the images runs: the summary table, one line per run, and what did not finish."""
    from accuracy import summarise

    lines = [
        "",
        "## The images preset at more epochs",
        "",
        f"Ours with images-realign.md's settings ({', '.join(IMAGE_SETTINGS)}), one worker process per run.",
        "",
    ]
    if rows:
        ordered = sorted(rows, key=lambda r: (r["epochs_asked"], r["seed"]))
        lines += [
            summarise(ordered),
            "",
            "| run | seed | MCC | R² | epochs run | fit samples/s |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['preset']} | {r['seed']} | {r['mcc']:.3f} | {r['r2']:.3f} | {r['epochs']} | {r['samples_per_second']:.0f} |"
            for r in ordered
        ]
    missing = args.seeds * len(args.epochs.split(",")) - len(rows)
    if missing:
        lines += ["", f"{missing} runs not finished (time budget {args.budget:.0f} s)."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", default="100", help="comma-separated epoch counts for the images runs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="runs at a time; processes sharing one GPU take turns on it (15 finished none in 240 s)",
    )
    parser.add_argument("--budget", type=float, default=240.0, help="seconds for the images runs")
    parser.add_argument(
        "--quick", action="store_true", help="tiny settings: checks the script, measures nothing"
    )
    parser.add_argument(
        "--parts", default="speed,scale,images", help="comma-separated measurements: speed, scale, images"
    )
    parser.add_argument("--name", default="gpu")
    args = parser.parse_args()

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(
            "no CUDA device here: run on a GPU machine, or pass --device cpu --quick to check the script"
        )
    device_name = (
        torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else platform.machine()
    )
    if args.device == "cpu":
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    steps, rounds, n = (2, 1, 300) if args.quick else (20, 3, None)
    presets = ["images", "paper-case1"]
    parts = args.parts.split(",")
    speed_rows = (
        speed(args.device, presets, 64 if args.quick else 512, steps, rounds) if "speed" in parts else []
    )
    report(args, device_name, speed_rows, [])
    scale_rows = scale(args.device, steps, rounds, args.quick) if "scale" in parts else []
    report(args, device_name, speed_rows, [], scale_rows)
    if "images" not in parts:
        return

    jobs = [(int(e), seed, args.device, n) for e in args.epochs.split(",") for seed in range(args.seeds)]
    rows = accuracy(
        jobs, args.workers, args.budget, lambda done: report(args, device_name, speed_rows, done, scale_rows)
    )
    report(args, device_name, speed_rows, rows, scale_rows)


if __name__ == "__main__":
    main()
