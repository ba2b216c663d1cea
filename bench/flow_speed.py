"""Training-step speed of the prior's two flows: affine (the default) against the monotone spline.

Builds one model per flow on the same cohort and times their training steps in alternating rounds, so that
machine noise hits both alike; reports median samples/s per flow and the spline's slowdown, for warm-up steps
(everything learns) and frozen ones (after the warm-up). Writes bench/results/flow_speed.md and .json.

    python bench/flow_speed.py                                # paper-case1 and paper-case3, 2 threads
    python bench/flow_speed.py --presets images --steps 5
"""

from __future__ import annotations

import argparse
import platform
import statistics

import torch
from _common import RESULTS, invocation, save_runs
from _stepping import training_stepper

from crl.config import FLOWS
from crl.data.synthetic import generate


def measure(preset: str, steps: int, rounds: int) -> dict:
    cohort = generate(preset, seed=0).to_cohort()
    steppers = {flow: training_stepper(cohort, [f"prior.flow={flow}"]) for flow in FLOWS}
    result: dict = {"preset": preset, "batch": steppers["affine"][1]}
    for frozen in (False, True):
        speeds: dict[str, list[float]] = {flow: [] for flow in FLOWS}
        for run, _ in steppers.values():
            run(2, frozen)  # warm caches and allocator
        for _ in range(rounds):
            for flow, (run, _) in steppers.items():
                speeds[flow].append(run(steps, frozen))
        phase = "frozen" if frozen else "learning"
        for flow in FLOWS:
            result[f"{phase}.{flow}"] = statistics.median(speeds[flow])
        result[f"{phase}.slowdown"] = result[f"{phase}.affine"] / result[f"{phase}.spline"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="paper-case1,paper-case3")
    parser.add_argument("--steps", type=int, default=30, help="steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="flow_speed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(p, args.steps, args.rounds) for p in args.presets.split(",")]
    lines = [
        "# Training-step speed: affine against spline flow",
        "",
        f"Command: `{invocation('flow_speed.py')}`  ",
        f"Machine: {platform.machine()}, {args.threads} torch threads, torch {torch.__version__}, CPU.  ",
        "Median samples/s over rounds that alternate the two models (default config, only `prior.flow` differs).",
        "",
        "| preset | batch | warm-up: affine | spline | slowdown | after it: affine | spline | slowdown |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['batch']} | {r['learning.affine']:.0f} | {r['learning.spline']:.0f} | "
            f"{r['learning.slowdown']:.2f} | {r['frozen.affine']:.0f} | {r['frozen.spline']:.0f} | "
            f"{r['frozen.slowdown']:.2f} |"
        )
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    save_runs(args.name, args, rows)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
