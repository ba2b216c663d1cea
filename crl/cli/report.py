"""`crl report RUN --out FILE [--cohort DIR]`: write a run's shareable report, one HTML file that opens offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crl.analysis.report import write_report
from crl.runs.storage import storage_error


def report_cli(args: argparse.Namespace) -> int:
    cohort = Path(args.cohort) if args.cohort else None
    try:
        path, notes = write_report(Path(args.run), Path(args.out), cohort)
    except OSError as error:  # a read-only or missing --out folder, a full disk
        raise storage_error(error, "nothing was written; choose another --out, or free space") from None
    for note in notes:  # what the report left out and why: it says so too, but the person typing should know
        print(f"crl report: note: {note}", file=sys.stderr)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
