"""Helpers shared by the benchmarks: timing (bench/ui.py, bench/traversal.py) and results files."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent
# A benchmark measures the checkout it lives in, not whichever crl the environment installed (an editable
# install points at one working tree; a second one, a git worktree say, would otherwise measure the first).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def timed(fn, *args) -> float:
    """Milliseconds one call of `fn(*args)` takes."""
    start = time.perf_counter()
    fn(*args)
    return 1000 * (time.perf_counter() - start)


def summary(values: list[float]) -> tuple[float, float, float]:
    """(median, p90, max) of timings."""
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))], ordered[-1]


def save_runs(name: str, args, rows: list[dict]) -> None:
    """bench/results/<name>.json: the run's arguments and one object per measured run."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"args": vars(args), "runs": rows}, indent=2) + "\n")


def invocation(script: str) -> str:
    """How this benchmark was invoked, for the results file's Command line."""
    return " ".join(["python", f"bench/{script}", *sys.argv[1:]])


def edge_table(model):
    """Every candidate latent link of a trained model with its strength: graph.csv's source,target,weight."""
    import pandas as pd

    names, weights = model.latent_names, model.strengths()
    return pd.DataFrame(
        [
            (names[i], names[j], float(weights[i, j]))
            for i in range(len(names))
            for j in range(len(names))
            if i != j
        ],
        columns=["source", "target", "weight"],
    )
