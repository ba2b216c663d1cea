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
import time

import torch
from _common import RESULTS, invocation, save_runs

from crl.config import FLOWS, apply_overrides, default_config
from crl.data.synthetic import generate
from crl.model import build_model
from crl.train import CohortTensors, _adam


def _stepper(cohort, flow: str):
    """A function that trains `n` steps of the model with this flow and returns samples/s."""
    config = apply_overrides(default_config(cohort.schema()), ["train.device=cpu", f"prior.flow={flow}"])
    torch.manual_seed(0)
    model = build_model(config, cohort.schema())
    normaliser = cohort.fit_normaliser(list(range(len(cohort))))
    tensors = CohortTensors(cohort, normaliser, torch.device("cpu"), model.names)
    optimizer = _adam(model, config)
    generator = torch.Generator().manual_seed(0)
    batch = config.train.batch_size

    def run(n_steps: int, frozen: bool) -> float:
        started = time.perf_counter()
        for _ in range(n_steps):
            idx = torch.randint(0, len(cohort), (batch,), generator=generator)
            record = model.loss(
                tensors.batch(idx), generator=generator, sparsity_weight=config.loss.sparsity,
                acyclicity_weight=config.loss.acyclicity, frozen_representation=frozen,
            )  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            record.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
            optimizer.step()
        return n_steps * batch / (time.perf_counter() - started)

    return run, batch


def measure(preset: str, steps: int, rounds: int) -> dict:
    cohort = generate(preset, seed=0).to_cohort()
    steppers = {flow: _stepper(cohort, flow) for flow in FLOWS}
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
