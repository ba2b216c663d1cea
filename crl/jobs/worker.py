"""The job process: wait for a slot, train (or resume, or refit) the job's run, record the outcome.

`python -m crl.jobs RUN_DIR` runs `run_job`; training goes through crl.engine (restarts, fit) and writes the
run folder, with a JobControl refreshing its status and heartbeat and saving checkpoints. Under torchrun every
rank runs it and rank 0 writes the files. Torch is imported inside the functions, so importing this stays light.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from crl.errors import CrlError, RunError
from crl.jobs.checkpoints import find_training_state, trim_metrics
from crl.jobs.heartbeat import JobControl
from crl.jobs.queue import acquire_slot
from crl.jobs.threads import apply_thread_env
from crl.runs.files import JOB_FILE, REFIT_FILE, read_json


def job_config(spec: dict[str, Any], cohort: Any, device: str) -> Any:
    """The job's configuration: cohort defaults, then its config (dict) or config file, then overrides, device,
    seed; checked against the cohort."""
    from crl.config import apply_overrides, check_schema, merge_dict, resolve_config

    config = resolve_config(cohort.schema(), spec.get("config_file"), [], None, None)
    if spec.get("config"):
        data = spec["config"]
        data = data.get("config", data) if isinstance(data.get("config"), dict) else data
        config = merge_dict(config, data)
    extra = list(spec.get("overrides") or [])
    extra.append(f"train.device={device}")
    if spec.get("seed") is not None:
        extra.append(f"train.seed={int(spec['seed'])}")
    config = apply_overrides(config, extra)
    check_schema(config, cohort.schema())
    return config


def oom_message(config: Any, device: str) -> str:
    """What to say when CUDA runs out of memory: the batch size, a smaller one, and the alternatives."""
    batch = config.train.batch_size
    return (
        f"the GPU ({device}) ran out of memory at batch size {batch}; try a smaller batch "
        f"(--set train.batch_size={max(1, batch // 2)}), smaller encoders, or --device cpu"
    )


def _train(run_dir: Path, spec: dict[str, Any], device: str, control: JobControl) -> None:
    """Train (or resume) the job's run in this process; under torchrun rank 0 writes the files."""
    import torch

    from crl.analysis.confidence import confidence_after_training, restart_recorders
    from crl.core.model import build_model
    from crl.data.load import load_cohort
    from crl.engine import distributed
    from crl.engine.restarts import fit_restarts, overall_position
    from crl.errors import TrainingError
    from crl.runs.checkpoint import load_training_state, save_training_state
    from crl.runs.folder import RunFolder, RunFolderCallback
    from crl.runs.results import write_results

    context = distributed.current()
    if context is not None:
        device = str(context.device)
    main = distributed.is_main_process()
    cohort = load_cohort(Path(spec["cohort"]))
    config = job_config(spec, cohort, device)
    state_file = find_training_state(run_dir)
    resume = load_training_state(state_file) if state_file is not None else None
    run = RunFolder(run_dir)
    if main:
        if resume is None:
            run.start(config, cohort, device=device)
        else:
            step, epoch = overall_position(resume)
            trim_metrics(run_dir, step)
            control.update_status(resumed_from_step=step, resumed_from_epoch=epoch)
        if context is not None:
            control.update_status(world_size=context.world_size, backend=context.backend)
    control.save_state = (lambda state: save_training_state(run_dir, state)) if main else None
    control.checkpoint_every = config.train.checkpoint_every
    control.epoch_checkpoints = False  # RunFolderCallback (rank 0) saves every checkpoint_every epochs
    callbacks = [RunFolderCallback(run, cohort, config), control] if main else [control]
    if main:
        callbacks += restart_recorders(run_dir, cohort, config)
    try:
        result = fit_restarts(
            lambda own: distributed.prepare(build_model(own, cohort.schema()), context),
            cohort,
            config,
            callbacks=callbacks,
            resume=resume,
        )
    except torch.cuda.OutOfMemoryError:
        raise TrainingError(oom_message(config, device)) from None
    if not main:
        return
    model = result.model
    write_results(run, model, cohort, config, result.normaliser)
    if not control.stopped:
        confidence_after_training(run_dir, result, config)
    if control.stopped or result.stopped_by_callback:
        control.close()
        control.update_status(state="stopped", error=None, stopping=None, ended_at=time.time())
        return
    weights = spec.get("sparsity_path") or []
    if weights:
        from crl.runs.sparsity_path import fit_path

        control.update_status(phase="sparsity path")
        control.save_state = None  # training_state.pt stays the main training's, for resume
        fit_path(
            model,
            cohort,
            config,
            weights,
            run_dir,
            epochs=spec.get("path_epochs"),
            callbacks=[control],
            skip_fitted=True,
        )
        if control.stopped:
            control.close()
            control.update_status(state="stopped", error=None, stopping=None, ended_at=time.time())
            return
    control.close()
    control.update_status(eta_seconds=0.0, ended_at=time.time(), phase=None)
    run.finish(result)


def _refit(
    run_dir: Path, spec: dict[str, Any], refit: dict[str, Any], device: str, control: JobControl
) -> None:
    """Refit a finished run at new sparsity weights, warm-started from its saved model."""
    from crl.data.load import load_cohort
    from crl.engine.device import resolve_device
    from crl.runs.checkpoint import load_model
    from crl.runs.sparsity_path import fit_path

    cohort = load_cohort(Path(spec["cohort"]))
    # A foreground refit takes no queue slot, so "auto" arrives here unresolved.
    model, config = load_model(run_dir, device=resolve_device(device))[:2]
    config = _with_device(config, device)
    control.update_status(phase="sparsity path")
    fit_path(
        model,
        cohort,
        config,
        refit["weights"],
        run_dir,
        epochs=refit.get("epochs"),
        callbacks=[control],
        warm_from="run",
    )
    control.close()
    (run_dir / REFIT_FILE).unlink(missing_ok=True)
    control.update_status(state="stopped" if control.stopped else "done", phase=None, error=None)


def _with_device(config: Any, device: str) -> Any:
    import dataclasses

    return dataclasses.replace(config, train=dataclasses.replace(config.train, device=device))


def run_job(run_dir: Path, queue: bool = True, foreground: bool = False, refit_only: bool = False) -> int:
    """Body of `python -m crl.jobs RUN_DIR`: wait for a slot, train (or resume, or refit), record the outcome."""
    from crl.engine import distributed

    run_dir = Path(run_dir)
    spec = read_json(run_dir / JOB_FILE, None)
    if not isinstance(spec, dict):
        raise RunError(f"{run_dir} has no readable {JOB_FILE}; it was not started as a job")
    apply_thread_env()
    context = distributed.init(spec.get("device") or "auto")
    main = distributed.is_main_process()
    control = JobControl(run_dir, writes_files=main)
    control.begin(state="queued" if queue else "running", handle_sigint=foreground)
    slot = None
    try:
        device = spec.get("device") or "auto"
        if queue and context is None:
            slot = acquire_slot(
                device,
                control.stop_requested,
                on_wait=lambda ahead: control.update_status(state="queued", queue_position=ahead),
                configured=spec.get("max_jobs"),
            )
            if slot is None:
                control.close()
                control.update_status(state="stopped", error="stopped while waiting in the queue")
                return 0
            if device in ("auto", "cuda"):
                device = slot.device
        control.update_status(state="running", queue_position=None)
        refit = read_json(run_dir / REFIT_FILE, None) if refit_only else None
        if refit is not None:
            _refit(run_dir, spec, refit, device, control)
        else:
            _train(run_dir, spec, device, control)
        return 0
    except CrlError as error:
        control.close()
        control.update_status(state="failed", error=str(error))
        if foreground:
            raise
        print(f"crl job: {error}", file=sys.stderr)
        return 1
    except BaseException as error:
        control.close()
        if isinstance(error, KeyboardInterrupt | SystemExit):
            control.update_status(state="stopped", error="interrupted by a signal before a checkpoint")
        else:
            control.update_status(state="failed", error=f"internal error: {type(error).__name__}: {error}")
        raise
    finally:
        control.close()
        if slot is not None:
            slot.release()
        distributed.shutdown()
