"""The job process: wait for a slot, train (or resume, refit, or measure the confidence of) the job's run,
record the outcome.

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
from crl.jobs.job_record import finish_refit, finish_side_job
from crl.jobs.queue import acquire_slot
from crl.jobs.threads import apply_thread_env
from crl.runs.files import JOB_FILE, MODEL_FILE, REFIT_FILE, STATUS_FILE, read_json
from crl.runs.storage import describe_os_error, is_full, is_read_only, remove_stale_temp_files

# Where a training state that could not be read is kept (crl.runs.checkpoint writes training_state.pt).
DAMAGED_STATE_FILE = "training_state.damaged.pt"


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
    from crl.analysis.stored_evaluation import evaluate_after_training
    from crl.core.model import build_model
    from crl.data.load import load_cohort
    from crl.data.missing import training_cohort
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
    cohort = load_cohort(Path(spec["cohort"]), missing_policy="infer")
    config = job_config(spec, cohort, device)
    cohort = training_cohort(cohort, config.train.missing_modalities, config.method)
    resume = _training_state(run_dir, load_training_state, set_aside=main)
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
        evaluate_after_training(run_dir)
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
    from crl.data.missing import policy_of_schema, training_cohort
    from crl.engine.device import resolve_device
    from crl.runs.checkpoint import load_model
    from crl.runs.sparsity_path import fit_path

    # A foreground refit takes no queue slot, so "auto" arrives here unresolved.
    model, config = load_model(run_dir, device=resolve_device(device))[:2]
    # The subjects the run was trained on: those lacking a modality only when its model infers them.
    cohort = training_cohort(
        load_cohort(Path(spec["cohort"]), missing_policy="infer"), policy_of_schema(model.schema)
    )
    config = _with_device(config, device)
    record = read_json(run_dir / STATUS_FILE, {}).get("refit") or {}
    control.update_status(
        phase="sparsity path", refit={**record, "state": "running", "started_at": time.time()}
    )
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
    if control.writes_files:
        finish_refit(run_dir, "stopped" if control.stopped else "done")


def _training_state(run_dir: Path, load: Any, set_aside: bool = True) -> dict[str, Any] | None:
    """The checkpoint to resume from, or None. A damaged one (cut short by a full disk or a bad copy) is set
    aside as training_state.damaged.pt (by rank 0 alone under torchrun), so the next resume starts over
    instead of failing the same way."""
    state_file = find_training_state(run_dir)
    if state_file is None:
        return None
    try:
        return load(state_file)
    except RunError as error:
        aside = state_file.with_name(DAMAGED_STATE_FILE)
        try:
            if not set_aside:
                raise RunError(str(error))
            state_file.replace(aside)
        except (OSError, RunError):
            raise RunError(f"{error}. Use the run as it is, or retrain it with `crl train`") from None
        usable = " (or use its model.pt as it is)" if (run_dir / MODEL_FILE).exists() else ""
        why = str(error.__cause__ or error).split(". ")[0]
        raise RunError(
            f"{state_file} is damaged and cannot be resumed from ({why}); it was set aside as {aside}. "
            f"`crl runs resume {run_dir}` (or Resume on the Train page) now trains the run again from the "
            f"start with the same settings{usable}"
        ) from None


def _with_device(config: Any, device: str) -> Any:
    import dataclasses

    return dataclasses.replace(config, train=dataclasses.replace(config.train, device=device))


def run_job(
    run_dir: Path,
    queue: bool = True,
    foreground: bool = False,
    refit_only: bool = False,
    stability: bool = False,
) -> int:
    """Body of `python -m crl.jobs RUN_DIR`: wait for a slot, train (or resume, refit, or measure the run's
    confidence: crl.jobs.stability_job), record the outcome."""
    from crl.engine import distributed

    run_dir = Path(run_dir)
    side = "refit" if refit_only else "stability" if stability else None
    spec = read_json(run_dir / JOB_FILE, None)
    if not isinstance(spec, dict):
        raise RunError(f"{run_dir} has no readable {JOB_FILE}; it was not started as a job")
    apply_thread_env()
    context = distributed.init(spec.get("device") or "auto")
    main = distributed.is_main_process()
    if main:
        remove_stale_temp_files(run_dir)  # what a killed write of an earlier job left
    control = JobControl(run_dir, writes_files=main)
    slot = None
    try:
        control.begin(state="queued" if queue else "running", handle_sigint=foreground)
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
                _record_failure(control, side, "stopped while waiting in the queue", "stopped")
                return 0
            if device in ("auto", "cuda"):
                device = slot.device
        control.update_status(state="running", queue_position=None)
        refit = read_json(run_dir / REFIT_FILE, None) if refit_only else None
        if refit is not None:
            _refit(run_dir, spec, refit, device, control)
        elif stability:
            from crl.jobs.stability_worker import measure_confidence

            measure_confidence(run_dir, device, control)
        else:
            _train(run_dir, spec, device, control)
        return 0
    except (CrlError, OSError) as error:
        message = str(error) if isinstance(error, CrlError) else write_failure(error, run_dir, side=side)
        control.close()
        _record_failure(control, side, message)
        if foreground:
            raise (error if isinstance(error, CrlError) else RunError(message)) from None
        print(f"crl job: {message}", file=sys.stderr)
        return 1
    except BaseException as error:
        control.close()
        if isinstance(error, KeyboardInterrupt | SystemExit):
            _record_failure(control, side, "interrupted by a signal before a checkpoint", "stopped")
        else:
            _record_failure(control, side, f"internal error: {type(error).__name__}: {error}")
        raise
    finally:
        control.close()
        if slot is not None:
            slot.release()
        distributed.shutdown()


# How to carry on after a side job could not write its files (crl.jobs.job_record.SIDE_JOBS).
AGAIN = {
    "refit": "refit again (the trained model is unchanged)",
    "stability": "measure the confidence again (the trained model is unchanged; finished restarts are kept)",
}


def write_failure(error: OSError, run_dir: Path, refit: bool = False, side: str | None = None) -> str:
    """What to tell the user when training (or a side job) could not write its files: why, and how to go on."""
    again = AGAIN.get(side or ("refit" if refit else ""), f"`crl runs resume {run_dir}`")
    if is_full(error):
        return f"{describe_os_error(error)}: free space, then {again}"
    if is_read_only(error):
        return f"{describe_os_error(error)}: make {run_dir} writable, then {again}"
    return f"{describe_os_error(error)}: then {again}"


def _record_failure(control: JobControl, side: str | None, message: str, state: str = "failed") -> None:
    """Record how the job ended, when the folder can still be written (on a full disk it may not be: the
    status then still says active, which reads "interrupted" once this process is gone). A side job (a refit,
    a confidence measurement) that fails leaves the run as it was, with its outcome beside it."""
    if not control.writes_files:
        return
    try:
        if side and (control.run_dir / STATUS_FILE).exists():
            finish_side_job(control.run_dir, side, state, error=message)
        else:
            control.update_status(state=state, error=message)
    except OSError:
        pass
