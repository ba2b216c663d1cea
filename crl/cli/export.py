"""`crl export RUN --format F`: write a run's graph (graphml, dot, json, csv) or report (html, svg)."""

from __future__ import annotations

import argparse
from pathlib import Path

from crl.analysis.export import export_run


def export_cli(args: argparse.Namespace) -> int:
    path = export_run(
        Path(args.run), args.format, out=Path(args.out) if args.out else None, threshold=args.threshold
    )
    print(f"wrote {path}")
    return 0
