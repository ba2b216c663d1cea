"""`crl stability RUN [--restarts R] [--json]`: how far a run's latents and links can be believed.

Trains the restarts the run lacks (seeds train.seed + k on its own validation split), then prints each latent's
stability and each link's frequency across restarts and effect; the same tables are written to the run folder
(latent_stability.csv, edge_confidence.csv). With --background the restarts train as a job
(crl.jobs.stability_job), like `crl train --background`, and the command returns at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crl.analysis.more_restarts import extend_restarts
from crl.runs.run import DEFAULT_THRESHOLD


def stability_cli(args: argparse.Namespace) -> int:
    if getattr(args, "background", False):
        from crl.analysis.more_restarts import restarts_to_train
        from crl.jobs import start_stability_job

        more = len(restarts_to_train(args.run, args.restarts))
        start_stability_job(Path(args.run), args.restarts, args.cohort)
        count = f"{more} restart{'s' if more != 1 else ''} to train"
        print(
            f"measuring the confidence of {args.run} in the background ({count}); "
            f"`crl runs status {args.run}` shows its progress, `crl runs stop {args.run}` stops it"
        )
        return 0

    def progress(index: int, total: int) -> None:
        print(
            f"training restart {index} of {total - 1} (restart 0 is the run itself)…",
            file=sys.stderr,
            flush=True,
        )

    from crl.jobs.stability_job import refuse_if_busy

    refuse_if_busy(Path(args.run))  # a job on the run (or its confidence measured in the background)
    edges, stability = extend_restarts(Path(args.run), args.restarts, args.cohort, on_restart=progress)
    links = edges[edges["frequency"] > 0].sort_values(
        ["frequency", "source", "target"], ascending=[False, True, True]
    )
    if args.json:
        print(
            json.dumps(
                {
                    "run": str(args.run),
                    "restarts": args.restarts,
                    "threshold": DEFAULT_THRESHOLD,
                    "latent_stability": {str(k): float(v) for k, v in stability.items()},
                    "edge_confidence": [
                        {
                            "source": s,
                            "target": t,
                            "frequency": float(f),
                            "effect": None if e != e else float(e),
                        }
                        for s, t, f, e in zip(
                            links["source"], links["target"], links["frequency"], links["effect"], strict=True
                        )
                    ],
                },
                indent=2,
            )
        )
        return 0
    print(f"Latent stability across {args.restarts} restarts (mean matched |corr| with the others, 0..1):")
    for name, value in stability.items():
        print(
            f"  {name:<24} {value:.2f}{'' if value >= 0.9 else '  (not reliably recovered)' if value < 0.7 else ''}"
        )
    print("Links present in at least one restart (frequency = share of restarts; effect in SDs per SD):")
    for s, t, f, e in zip(links["source"], links["target"], links["frequency"], links["effect"], strict=True):
        effect = "  (not in this run at the threshold)" if e != e else f"  effect {e:+.2f}"
        print(f"  {s} -> {t}  frequency {f:.2f}{effect}")
    return 0
