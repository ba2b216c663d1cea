"""`crl evaluate RUN [--truth COHORT]`: print a run's metrics (against the true graph when known) as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from crl.analysis.evaluate import evaluate_run


def evaluate_cli(args: argparse.Namespace) -> int:
    result = evaluate_run(Path(args.run), truth=Path(args.truth) if args.truth else None)
    print(json.dumps(result, indent=2))
    return 0
