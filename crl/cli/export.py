"""`crl export RUN --format F`: write a run's graph (graphml, dot, json, csv) or report (html, svg)."""

from __future__ import annotations

import argparse
from pathlib import Path

from crl.analysis.export import export_run
from crl.runs.storage import storage_error


def export_cli(args: argparse.Namespace) -> int:
    try:
        path = export_run(
            Path(args.run), args.format, out=Path(args.out) if args.out else None, threshold=args.threshold
        )
    except OSError as error:  # a read-only run folder (the default place) or --out folder, a full disk
        raise storage_error(error, "nothing was written; choose another --out, or free space") from None
    print(f"wrote {path}")
    return 0
