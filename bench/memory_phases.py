"""Where training's peak memory comes from (issue 25): resident memory before, at the peak of, and after each
phase of `fit` on a cohort folder written by bench/memory.py (e.g. /tmp/crl-bench-memory/demo-30000).

The phases (the first training steps, the validation pass, the warm-up's realignments and order search) are
wrapped in place; before each one the process's high-water mark is reset (/proc/self/clear_refs, Linux), so
"peak" is that phase's own peak VmHWM, torch's CPU allocations included (tracemalloc does not see them). Same
training set-up as bench/memory.py: batch 32, stopped after --steps steps, then the epoch's validation pass.

    CRL_CACHE=/tmp/crl-bench-memory/crl-cache python bench/memory_phases.py /tmp/crl-bench-memory/demo-30000
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path


def status() -> dict[str, float]:
    """VmRSS and VmHWM in GiB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) / 1024**2
    return out


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def wrap(module, name: str, label: str, steps_shown: list[int]) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def inner(*args, **kwargs):
        before = status()["VmRSS"]
        reset_peak()
        out = original(*args, **kwargs)
        now = status()
        if label == "train_step":
            steps_shown[0] += 1
            if steps_shown[0] > 3:
                return out
        extra = f" ({len(args[2])} subjects)" if label == "validation" else ""
        print(
            f"{label:12s} before {before:.2f}  peak {now['VmHWM']:.2f}  after {now['VmRSS']:.2f} GiB{extra}"
        )
        return out

    setattr(module, name, inner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    import crl.engine.phases as phases
    import crl.engine.warmup as warmup
    from crl.config import check_schema, resolve_config
    from crl.core.model import build_model
    from crl.data.load import load_cohort
    from crl.data.missing import training_cohort
    from crl.engine.fit import fit

    torch.set_num_threads(args.threads)
    shown = [0]
    wrap(phases, "train_step", "train_step", shown)
    wrap(phases, "evaluate", "validation", shown)
    wrap(warmup, "realign", "realign", shown)
    wrap(warmup, "search_graph", "order search", shown)
    cohort = load_cohort(Path(args.cohort), missing_policy="infer")
    overrides = ["train.epochs=1", "train.min_steps=0", "train.restarts=1", "train.batch_size=32"]
    config = resolve_config(cohort.schema(), None, overrides, "cpu", 0)
    check_schema(config, cohort.schema())
    cohort = training_cohort(cohort, config.train.missing_modalities, config.method)
    model = build_model(config, cohort.schema())
    print(f"loaded       rss {status()['VmRSS']:.2f} GiB, {len(cohort)} subjects")

    class Stop:
        seen = 0

        def on_step(self, info):
            self.seen += 1
            return self.seen >= args.steps

    fit(model, cohort, config, callbacks=[Stop()])


if __name__ == "__main__":
    main()
