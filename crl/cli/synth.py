"""`crl synth PRESET --out DIR`: write a synthetic cohort with its ground truth; `--list` names the presets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crl.data.synthetic import describe_presets, write_preset


def synth_cli(args: argparse.Namespace) -> int:
    if args.list:
        print(describe_presets())
        return 0
    if not args.preset or not args.out:
        print("crl synth: give a PRESET and --out DIR (see `crl synth --list`)", file=sys.stderr)
        return 2
    out = write_preset(args.preset, Path(args.out), n=args.n, seed=args.seed)
    print(f"wrote synthetic cohort '{args.preset}' to {out}")
    return 0
