"""The `crl` command: synth, validate, train, runs, evaluate, export, report, identifiability, stability, cache. Exit 0 ok, 1 user error (plain lines), 2 usage."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from crl.errors import CrlError

# Each command lives in its own module, imported only when it runs: `crl --help` and `crl runs list` stay quick.


def _cmd_synth(args: argparse.Namespace) -> int:
    from crl.cli.synth import synth_cli

    return synth_cli(args)


def _cmd_validate(args: argparse.Namespace) -> int:
    from crl.cli.validate import validate_cli

    return validate_cli(args)


def _cmd_train(args: argparse.Namespace) -> int:
    from crl.cli.train import train_command

    return train_command(args)


def _cmd_runs(args: argparse.Namespace) -> int:
    from crl.cli.runs import runs_cli

    return runs_cli(args)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from crl.cli.evaluate import evaluate_cli

    return evaluate_cli(args)


def _cmd_export(args: argparse.Namespace) -> int:
    from crl.cli.export import export_cli

    return export_cli(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from crl.cli.report import report_cli

    return report_cli(args)


def _cmd_identifiability(args: argparse.Namespace) -> int:
    from crl.cli.identifiability import identifiability_cli

    return identifiability_cli(Path(args.path), args.threshold, args.json)


def _cmd_stability(args: argparse.Namespace) -> int:
    from crl.cli.stability import stability_cli

    return stability_cli(args)


def _cmd_cache(args: argparse.Namespace) -> int:
    from crl.cli.cache import cache_cli

    return cache_cli(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write a synthetic cohort with ground truth")
    p.add_argument("preset", nargs="?", help="preset name (see `crl synth --list`)")
    p.add_argument("--out", help="folder to write")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--n", type=int, default=None, help="number of subjects (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("validate", help="check a cohort folder and print every problem found")
    p.add_argument("dir")
    p.add_argument(
        "--nan-policy", default="error", choices=["error", "drop", "impute"], help="what to do with NaN/inf"
    )
    p.add_argument(
        "--length-policy",
        default="error",
        choices=["error", "pad", "crop", "resample"],
        help="unequal time series",
    )
    p.add_argument(
        "--missing-modalities",
        default="infer",
        choices=["infer", "drop"],
        help="subjects lacking a modality: kept with their latents for it inferred (as crl train does by "
        "default) or left out",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("train", help="train on a cohort and write a run folder")
    p.add_argument("dir", help="cohort folder")
    p.add_argument("--out", required=True, help="run folder to write")
    p.add_argument("--config", default=None, help="TOML or JSON configuration file")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override one config field"
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--background", action="store_true", help="start as a background job and return at once")
    p.add_argument("--gpus", type=int, default=0, metavar="N", help="data-parallel on N GPUs (torchrun, DDP)")
    p.add_argument(
        "--sparsity-path",
        default=None,
        metavar="W1,W2,...",
        help="after training, refit at these sparsity weights",
    )
    p.add_argument(
        "--path-epochs", type=int, default=None, help="epochs per sparsity level (default: a quarter)"
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("runs", help="list, stop, resume, rename or delete training runs")
    p.add_argument("--root", default=None, help="run registry folder (default: $CRL_RUNS or ./runs)")
    runs = p.add_subparsers(dest="runs_command", required=True)
    r = runs.add_parser("list", help="every run with its state, cohort, device and metrics")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r = runs.add_parser("status", help="one run's live status")
    r.add_argument("run", help="run folder or name under the registry root")
    r.add_argument("--json", action="store_true", help="print JSON")
    r = runs.add_parser("stop", help="stop a running or queued job (it saves a checkpoint first)")
    r.add_argument("run")
    r.add_argument(
        "--grace", type=float, default=10.0, help="seconds before SIGTERM (half) and SIGKILL (all)"
    )
    r = runs.add_parser("resume", help="continue a stopped or interrupted run from its last checkpoint")
    r.add_argument("run")
    r.add_argument("--background", action="store_true", help="resume as a background job and return at once")
    r = runs.add_parser("refit", help="refit a finished run at new sparsity weights (warm-started)")
    r.add_argument("run")
    r.add_argument("--sparsity", required=True, metavar="W1,W2,...", help="sparsity weights")
    r.add_argument("--epochs", type=int, default=None, help="epochs per level (default: a quarter)")
    r.add_argument("--background", action="store_true", help="run as a background job and return at once")
    r = runs.add_parser("rename", help="rename a run folder")
    r.add_argument("run")
    r.add_argument("new_name")
    r = runs.add_parser("delete", help="delete a run folder and everything in it")
    r.add_argument("run")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_cmd_runs)

    p = sub.add_parser("evaluate", help="print a run's metrics as JSON")
    p.add_argument("run")
    p.add_argument(
        "--truth", default=None, help="synthetic cohort folder with truth/ (default: the run's cohort)"
    )
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("export", help="write a run's graph or report")
    p.add_argument("run")
    p.add_argument("--format", required=True, choices=["graphml", "dot", "json", "csv", "html", "svg"])
    p.add_argument("--out", default=None, help="file to write (default: graph.<format> in the run folder)")
    p.add_argument(
        "--threshold", type=float, default=None, help="edge-strength threshold (default: the run's)"
    )
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("report", help="write a run's shareable report: one HTML file that opens offline")
    p.add_argument("run", help="a finished run folder")
    p.add_argument("--out", required=True, help="the HTML file to write, e.g. report.html")
    p.add_argument(
        "--cohort",
        default=None,
        help="the cohort folder the run was trained on (default: the one the run records); without one the "
        "report has no traversal figures or metrics and says why",
    )
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "identifiability", help="which latents a graph can pin down one by one (docs/method.md §5b)"
    )
    p.add_argument(
        "path", help="a synthetic cohort folder (its true graph) or a run folder (its learned graph)"
    )
    p.add_argument("--threshold", type=float, default=None, help="edge-strength threshold for a run's graph")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_identifiability)

    p = sub.add_parser(
        "stability", help="train more restarts of a run and show how far each latent and link holds"
    )
    p.add_argument("run", help="a finished run folder")
    p.add_argument("--restarts", type=int, default=4, help="restarts in all, the run included (default 4)")
    p.add_argument("--cohort", default=None, help="the cohort folder (default: the one the run records)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--background",
        action="store_true",
        help="train them as a background job and return at once (`crl runs status RUN` shows progress)",
    )
    p.set_defaults(func=_cmd_stability)

    p = sub.add_parser(
        "cache", help="disk used by decoded image modalities (CRL_CACHE/images); --clear frees it"
    )
    p.add_argument(
        "--clear", action="store_true", help="delete the decoded files (decoded again when needed)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_cache)
    return parser


def _fail(command: str, message: str) -> int:
    for line in message.splitlines() or ["error"]:
        print(f"crl {command}: {line}", file=sys.stderr)
    return 1


def _stdout_closed() -> int:
    """The reader of our output went away (`crl … | head`): stop quietly, as the Python docs advise (point
    stdout at /dev/null so the interpreter's final flush cannot fail again)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below, not at the interpreter's exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except CrlError as error:
        return _fail(args.command, str(error))
    except OSError as error:  # a file-system refusal no command words itself: still plain words, no traceback
        from crl.runs.storage import describe_os_error

        return _fail(args.command, describe_os_error(error))
    except KeyboardInterrupt:
        return _fail(args.command, "interrupted")
