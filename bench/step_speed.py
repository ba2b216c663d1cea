"""Training-step speed with the representation learning (the warm-up) and frozen (the rest of training).

After the warm-up the encoders, decoders and rotations stand still, and `CRLModel.loss(frozen_representation=True)`
skips back-propagating through them. This times both kinds of step on the same model, alternating them in
rounds so that machine noise hits both alike, and reports samples/s and their ratio per preset.
Writes bench/results/step_speed.md and step_speed.json.

    python bench/step_speed.py                                  # paper-case1 and images, 2 threads
    python bench/step_speed.py --presets paper-case3 --steps 50
"""

from __future__ import annotations

import argparse
import platform
import statistics

import torch
from _common import RESULTS, invocation, save_runs
from _stepping import training_stepper

from crl.data.synthetic import generate


def samples_per_second(preset: str, steps: int, rounds: int) -> dict:
    run, batch = training_stepper(generate(preset, seed=0).to_cohort(), [])

    run(2, False), run(2, True)  # warm caches and allocator
    learning, frozen = [], []
    for _ in range(rounds):
        learning.append(run(steps, False))
        frozen.append(run(steps, True))
    a, b = statistics.median(learning), statistics.median(frozen)
    return {"preset": preset, "batch": batch, "learning": a, "frozen": b, "ratio": b / a}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="paper-case1,images")
    parser.add_argument("--steps", type=int, default=None, help="steps per round (default 100, images 5)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for preset in args.presets.split(","):
        steps = args.steps or (5 if preset == "images" else 100)
        rows.append(samples_per_second(preset, steps, args.rounds))
        r = rows[-1]
        print(f"{preset}: {r['learning']:.0f} -> {r['frozen']:.0f} samples/s ({r['ratio']:.2f}x)", flush=True)
    save_runs("step_speed", args, rows)
    lines = [
        "# Training-step speed: representation learning vs frozen",
        "",
        f"Command: `{invocation('step_speed.py')}`  ",
        f"Machine: {platform.machine()}, {args.threads} torch threads, torch {torch.__version__}, CPU.  ",
        "Median samples/s over rounds that alternate the two kinds of step on one model (default config).",
        "",
        "| preset | batch | learning (warm-up) | frozen (after it) | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['batch']} | {r['learning']:.0f} | {r['frozen']:.0f} | {r['ratio']:.2f} |"
        )
    (RESULTS / "step_speed.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
