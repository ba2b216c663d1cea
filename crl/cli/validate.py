"""`crl validate DIR`: check a cohort folder and print every problem found (exit 1 when it cannot be trained on).

Subjects lacking a modality are judged as `crl train` treats them by default (--missing-modalities infer)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crl.data.validate import validate_cohort


def validate_cli(args: argparse.Namespace) -> int:
    report = validate_cohort(
        Path(args.dir),
        nan_policy=args.nan_policy,
        length_policy=args.length_policy,
        missing_policy=getattr(args, "missing_modalities", "infer"),
    )
    text = json.dumps(report.to_dict(), indent=2) if args.json else report.format()
    # A cohort that cannot be trained on is a user error: its explanation goes to stderr (docs/cli.md).
    print(text, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
