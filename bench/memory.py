"""Peak memory of training on a demo-like cohort (issue 25): peak RSS and samples/s at several cohort sizes.

Each size N gets a cohort written once under --workdir with `write_preset("demo", n=N)`'s content (two 64x64
RGB photographs and a sleep test per subject, about 1.5 % of subjects lacking a modality), its .npz files
stored with deflate instead of the demo's bzip2 (bzip2 takes minutes to write at 100 000 subjects; both are
zip members that numpy decodes whole, so what training holds is the same). Training then runs in a CHILD
process, the path `crl train` takes: `load_cohort(missing_policy="infer")`, the training cohort, the model,
`fit` stopped by a callback after --steps optimiser steps, and the observed features the latents are oriented
with; `crl train`'s encoding of every subject afterwards is left out unless --encode (it costs minutes on CPU).
The child reports its own peak resident memory (VmHWM of /proc/self/status, which a new program image starts
afresh; getrusage's ru_maxrss does not: it keeps the forked parent's resident size, which after writing a
100 000-subject cohort was 9 GB and was once misread as the load's peak), so neither the parent nor
the cohort writer counts. The batch is small (32) by default: on CPU a batch of 256 of this model holds about
4 GB of activations (whatever the cohort's size), which would hide what the data holds; "ready to train" is the
peak once the split, the normaliser and the cohort's tensors exist, before the first step. The dashboard/cache folder of decoded images (CRL_CACHE) is pointed at a folder of
--workdir and emptied first, so each measurement includes the first decode.

    python bench/memory.py --sizes 10000,30000 --steps 10 --name memory-before
    python bench/memory.py --sizes 10000,50000,100000 --steps 10 --name memory
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS, invocation, save_runs

HERE = Path(__file__).resolve().parent


def write_cohort_dir(n: int, root: Path) -> Path:
    """The demo cohort of n subjects at root/demo-<n> (written once; deflate-compressed .npz)."""
    from crl.data.synthetic import generate
    from crl.data.synthetic.writer import write_cohort

    target = root / f"demo-{n}"
    if (target / "cohort.toml").exists():
        return target
    cohort = generate("demo", n=n, seed=0)
    cohort.npz_compression = "deflate"
    write_cohort(cohort, target, overwrite=True)
    return target


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise SystemExit("bench/memory.py needs Linux's /proc/self/status")


def child(args: argparse.Namespace) -> None:
    """One measurement in this process: print a JSON line with peak RSS, pixel bytes and samples/s."""
    import numpy as np
    import torch

    from crl.config import check_schema, resolve_config
    from crl.core.model import build_model
    from crl.data.features import observed_features
    from crl.data.load import load_cohort
    from crl.data.missing import training_cohort
    from crl.engine.encode import posterior_means
    from crl.engine.fit import fit

    torch.set_num_threads(args.threads)
    marks = {}

    def mark(label: str) -> None:
        marks[label] = peak_rss_mib()

    started = time.perf_counter()
    cohort = load_cohort(Path(args.cohort), missing_policy="infer")
    load_seconds = time.perf_counter() - started
    mark("loaded")
    overrides = ["train.epochs=1", "train.min_steps=0", "train.restarts=1", f"train.batch_size={args.batch}"]
    config = resolve_config(cohort.schema(), None, overrides, "cpu", 0)
    check_schema(config, cohort.schema())
    cohort = training_cohort(cohort, config.train.missing_modalities, config.method)
    pixels = sum(m.data.nbytes for m in cohort.modalities.values() if m.kind == "image")
    memmapped = all(isinstance(m.data, np.memmap) for m in cohort.modalities.values() if m.kind == "image")
    model = build_model(config, cohort.schema())

    class Stop:
        def __init__(self):
            self.steps, self.first, self.last = 0, None, None

        def on_start(self, info):
            mark("ready")  # split, normaliser and the cohort's tensors built: what the data holds

        def on_step(self, info):
            self.steps += 1
            if self.steps == 3:  # the first steps are warm-up (allocator, threads): timed from here
                self.first = time.perf_counter()
            self.last = time.perf_counter()  # not fit's return: the epoch's validation pass comes after
            return self.steps >= args.steps

    stop = Stop()
    result = fit(model, cohort, config, callbacks=[stop])
    timed_steps = stop.steps - 3
    samples_per_s = timed_steps * args.batch / (stop.last - stop.first) if timed_steps > 0 else 0.0
    mark("trained")
    observed_features(cohort)
    mark("features")
    if args.encode:
        posterior_means(model, cohort, result.normaliser)
        mark("encoded")
    print(
        "RESULT "
        + json.dumps(
            {
                "n": len(cohort),
                "pixel_bytes": int(pixels),
                "memmapped": memmapped,
                "load_seconds": round(load_seconds, 1),
                "steps": stop.steps,
                "samples_per_s": round(samples_per_s, 1),
                "peak_rss_mib": round(max(marks.values()), 1),
                "peak_rss_after": {k: round(v, 1) for k, v in marks.items()},
            }
        )
    )


def measure(n: int, args: argparse.Namespace) -> dict:
    workdir = Path(args.workdir)
    cohort = write_cohort_dir(n, workdir)
    cache = workdir / "crl-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "CRL_CACHE": str(cache)}
    command = [sys.executable, str(HERE / "memory.py"), "--child", str(cohort), "--steps", str(args.steps)]
    command += ["--batch", str(args.batch), "--threads", str(args.threads)] + (
        ["--encode"] if args.encode else []
    )
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"child failed for n={n}:\n{done.stderr[-4000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    row = json.loads(line[len("RESULT ") :])
    row["child_seconds"] = round(time.perf_counter() - started, 1)
    row["peak_over_pixels"] = round(row["peak_rss_mib"] * 1024**2 / row["pixel_bytes"], 2)
    print(json.dumps(row), flush=True)
    return row


def write_markdown(name: str, args: argparse.Namespace, rows: list[dict]) -> None:
    lines = [
        f"# Peak memory of training ({name})",
        "",
        f"Command: `{invocation('memory.py')}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch threads "
        f"{args.threads}; batch {args.batch}, {args.steps} optimiser steps (samples/s from step 3 on).",
        "",
        "| subjects | decoded pixels (GB) | image arrays memory-mapped | load (s) | peak RSS (GB) | peak / pixels "
        "| samples/s | peak RSS after load / ready to train / train / features (GB) |",
        "|---:|---:|:---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        after = " / ".join(f"{v / 1024:.2f}" for v in r["peak_rss_after"].values())
        lines.append(
            f"| {r['n']} | {r['pixel_bytes'] / 1e9:.2f} | {'yes' if r['memmapped'] else 'no'} | {r['load_seconds']} "
            f"| {r['peak_rss_mib'] / 1024:.2f} | {r['peak_over_pixels']} | {r['samples_per_s']} | {after} |"
        )
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,50000,100000", help="comma-separated subject counts")
    parser.add_argument("--steps", type=int, default=10, help="optimiser steps before the callback stops")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--encode", action="store_true", help="also encode every subject afterwards")
    parser.add_argument("--workdir", default="/tmp/crl-bench-memory", help="where cohorts are written once")
    parser.add_argument("--name", default="memory", help="bench/results/<name>.md and .json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.cohort = args.child
        child(args)
        return
    rows = [measure(int(n), args) for n in args.sizes.split(",")]
    save_runs(args.name, args, rows)
    write_markdown(args.name, args, rows)


if __name__ == "__main__":
    main()
