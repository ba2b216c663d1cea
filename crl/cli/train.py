"""`crl train DIR --out RUN`: train in this process (foreground) and write the run folder."""

from __future__ import annotations

from pathlib import Path

import torch

from crl.config import check_schema, resolve_config
from crl.core.model import build_model
from crl.engine.device import resolve_device
from crl.engine.distributed import under_torchrun
from crl.engine.fit import encode_cohort, latent_table
from crl.engine.restarts import fit_restarts
from crl.errors import TrainingError
from crl.jobs.jobs import oom_message, terminal_control
from crl.runs.checkpoint import save_model
from crl.runs.folder import RunFolder, RunFolderCallback


def train_cli(args) -> int:
    """`crl train DIR --out RUN [--config FILE] [--set k=v ...] [--device D] [--seed S]`: train, write the run."""

    from crl.data.load import load_cohort  # looked up per call: tests stand a small cohort in for it

    if under_torchrun():  # one of several DDP processes: the job runner coordinates the ranks
        from crl.jobs.jobs import train_distributed_cli

        return train_distributed_cli(args)
    cohort = load_cohort(Path(args.dir))
    config = resolve_config(
        cohort.schema(),
        getattr(args, "config", None),
        getattr(args, "set", []) or [],
        getattr(args, "device", None),
        getattr(args, "seed", None),
    )
    check_schema(config, cohort.schema())
    run = RunFolder(Path(args.out))
    device = resolve_device(config.train.device)
    run.start(config, cohort, device=str(device))
    # Heartbeat, graceful stop (Ctrl-C, SIGTERM, STOP file) with a checkpoint, so `crl runs resume` can continue.
    control = terminal_control(run.path)
    try:
        callbacks = [RunFolderCallback(run, cohort, config), control]
        try:
            result = fit_restarts(lambda own: build_model(own, cohort.schema()), cohort, config, callbacks)
        except torch.cuda.OutOfMemoryError:
            raise TrainingError(oom_message(config, str(device))) from None
        model = result.model
        latents = encode_cohort(model, cohort, result.normaliser)
        run.write_latents(latent_table(model, cohort, latents))
        run.write_graph(model.latent_names, model.strengths())
        save_model(run.path, model, config, result.normaliser, cohort)
        control.close()
        run.finish(result)
    except TrainingError as error:
        run.fail(str(error))
        raise
    except KeyboardInterrupt:
        run.set_state("stopped", error="interrupted by the user")
        raise
    except Exception as error:  # an unexpected bug: still leave a readable status behind
        run.fail(f"internal error: {type(error).__name__}: {error}")
        raise
    finally:
        control.close()
    return 0
