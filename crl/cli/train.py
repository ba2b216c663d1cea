"""`crl train DIR --out RUN`: in this process (foreground), as a job (--background, --gpus N, --sparsity-path),
or as one of torchrun's ranks.

Torch and the model are imported inside the functions: `crl train --background` only starts a job and returns,
so it stays quick.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from crl.cli.runs import job_exit_code
from crl.errors import CrlError, RunError, TrainingError
from crl.jobs import job_status, parse_weights, prepare_job, run_job, settle_job, start_job
from crl.jobs.worker import write_failure
from crl.runs.files import STATUS_FILE, now_iso, read_json
from crl.runs.storage import storage_error


def train_command(args: argparse.Namespace) -> int:
    """`crl train`: a job when it runs in the background, on several GPUs or along a sparsity path, else here."""
    if getattr(args, "background", False) or getattr(args, "gpus", 0) or getattr(args, "sparsity_path", None):
        return train_job_cli(args)
    return train_cli(args)


def train_cli(args: Any) -> int:
    """`crl train DIR --out RUN [--config FILE] [--set k=v ...] [--device D] [--seed S]`: train, write the run."""
    import torch

    from crl.analysis.confidence import confidence_after_training, restart_recorders
    from crl.analysis.stored_evaluation import evaluate_after_training
    from crl.config import check_schema, resolve_config
    from crl.core.model import build_model
    from crl.data.load import load_cohort  # looked up per call: tests stand a small cohort in for it
    from crl.data.missing import training_cohort
    from crl.engine.device import resolve_device
    from crl.engine.distributed import under_torchrun
    from crl.engine.restarts import fit_restarts
    from crl.jobs import oom_message, terminal_control
    from crl.runs.folder import RunFolder, RunFolderCallback
    from crl.runs.results import write_results

    if under_torchrun():  # one of several DDP processes: the job runner coordinates the ranks
        return train_distributed_cli(args)
    cohort = load_cohort(Path(args.dir), missing_policy="infer")
    config = resolve_config(
        cohort.schema(),
        getattr(args, "config", None),
        getattr(args, "set", []) or [],
        getattr(args, "device", None),
        getattr(args, "seed", None),
    )
    check_schema(config, cohort.schema())
    cohort = training_cohort(cohort, config.train.missing_modalities, config.method)
    run = RunFolder(Path(args.out))
    device = resolve_device(config.train.device)
    try:
        run.start(config, cohort, device=str(device))
        # Heartbeat, graceful stop (Ctrl-C, SIGTERM, STOP file) with a checkpoint, so `crl runs resume` works.
        control = terminal_control(run.path)
    except OSError as error:
        raise storage_error(error, "choose another --out, or make that folder writable") from None
    try:
        callbacks = [
            RunFolderCallback(run, cohort, config),
            control,
            *restart_recorders(run.path, cohort, config),
        ]
        try:
            result = fit_restarts(lambda own: build_model(own, cohort.schema()), cohort, config, callbacks)
        except torch.cuda.OutOfMemoryError:
            raise TrainingError(oom_message(config, str(device))) from None
        write_results(run, result.model, cohort, config, result.normaliser)
        confidence_after_training(run.path, result, config)
        evaluate_after_training(run.path)
        control.close()
        run.finish(result)
    except TrainingError as error:
        _record(run, "failed", str(error))
        raise
    except KeyboardInterrupt:
        _record(run, "stopped", "interrupted by the user")
        raise
    except OSError as error:  # a full disk, a folder made read-only meanwhile: say so and how to carry on
        message = write_failure(error, run.path)
        _record(run, "failed", message)
        raise RunError(message) from None
    except Exception as error:  # an unexpected bug: still leave a readable status behind
        _record(run, "failed", f"internal error: {type(error).__name__}: {error}")
        raise
    finally:
        control.close()
    return 0


def _record(run: Any, state: str, message: str) -> None:
    """Leave the run's final state behind when its folder can still be written (a full disk may not allow it:
    then status.json still says running, which reads "interrupted" once this process has gone)."""
    try:
        run.set_state(state, error=message, **({"finished": now_iso()} if state == "failed" else {}))
    except OSError:
        pass


def train_job_cli(args: Any) -> int:
    """`crl train … --background | --gpus N | --sparsity-path W,…`: the job path of `crl train`."""
    options = dict(
        config_file=args.config,
        overrides=list(args.set or []),
        device=args.device or "auto",
        seed=args.seed,
        sparsity_path=parse_weights(getattr(args, "sparsity_path", None)),
        path_epochs=getattr(args, "path_epochs", None),
        gpus=int(getattr(args, "gpus", 0) or 0),
        run_dir=args.out,
    )
    if args.background:
        run = start_job(args.dir, **options)
        print(
            f"started {run} (queued); follow it with `crl runs status {run}`, stop it with `crl runs stop {run}`"
        )
        return 0
    run = prepare_job(args.dir, **options)
    if options["gpus"] > 1:
        from crl.engine.distributed import launch

        code = launch(options["gpus"], ["crl.jobs", str(run.resolve()), "--no-queue"])
        settle_job(run)
        if code != 0:
            raise RunError(job_status(run).get("error") or f"distributed training exited with code {code}")
        return 0
    run_job(run, queue=False, foreground=True)
    return job_exit_code(run)


def train_distributed_cli(args: Any) -> int:
    """`crl train` started by torchrun (e.g. on several machines): every rank joins the process group, rank 0
    creates the run folder with its job.json, then every rank trains it (DDP) with rank 0 writing."""
    from crl.engine import distributed

    context = distributed.init(args.device or "auto")
    run = Path(args.out)
    failed = ""
    if context is None or context.is_main:
        try:
            prepare_job(
                args.dir,
                config_file=args.config,
                overrides=list(args.set or []),
                device=args.device or "auto",
                seed=args.seed,
                run_dir=run,
            )
        except CrlError as error:
            failed = str(error)
    if distributed.any_rank(bool(failed), context):
        distributed.shutdown()
        raise RunError(failed or "rank 0 could not create the run folder")
    code = run_job(run, queue=False)
    if code != 0:
        raise RunError(read_json(run / STATUS_FILE, {}).get("error") or "distributed training failed")
    return 0
