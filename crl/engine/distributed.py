"""Data-parallel training under torchrun: process-group set-up, a DistributedDataParallel loss, rank-0 writing.

Every rank runs the same fit() loop on the same batch indices (same seeds, same shuffling); the loss wrapper
keeps each rank's share of every batch (rows `rank::world_size`) and DistributedDataParallel averages the
gradients, so all ranks hold identical weights, take the same steps and make the same early-stopping choice.
Only rank 0 writes the run folder. Launch with `crl train DIR --out RUN --gpus N` or, for several machines,
`torchrun --nnodes ... -m crl.cli train ...` (docs/multi-gpu.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
from torch import nn

from crl.errors import TrainingError

LEAVE_TIMEOUT_S = 20  # how long a leaving gloo rank waits for its peers (shutdown)


@dataclass(frozen=True)
class DistContext:
    """This process's place in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_CONTEXT: DistContext | None = None


def under_torchrun() -> bool:
    """True when torchrun started this process as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def current() -> DistContext | None:
    """The initialised context, or None in an ordinary single-process run."""
    return _CONTEXT


def is_main_process() -> bool:
    """True on rank 0 and in single-process runs: the one process that writes files."""
    return _CONTEXT is None or _CONTEXT.is_main


def init(device_spec: str = "auto") -> DistContext | None:
    """Join the torchrun process group (NCCL on CUDA, gloo on CPU); None when not under torchrun.

    Each rank takes the GPU `cuda:LOCAL_RANK` unless the device is "cpu".
    """
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    if not under_torchrun():
        return None
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_spec != "cpu" and torch.cuda.is_available()
    if device_spec.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"device '{device_spec}' was requested but this machine has no usable CUDA GPU")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise TrainingError(
                f"rank {rank} wants GPU {local_rank} but this machine has {torch.cuda.device_count()}; "
                "start no more processes per node than there are GPUs (--nproc_per_node)"
            )
        device = torch.device(f"cuda:{local_rank}")
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    backend = os.environ.get("CRL_DIST_BACKEND", backend)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    _CONTEXT = DistContext(rank, world, local_rank, backend, device)
    return _CONTEXT


def shutdown() -> None:
    """Leave the process group (safe to call when none was joined).

    Under gloo the ranks first meet at a barrier that gives up after `LEAVE_TIMEOUT_S`: a rank that tore its
    connections down while its peer was still finishing the last collective made the peer abort ("terminate
    called without an active exception", seen once in CI), and a peer that died must not hold this one up.
    """
    global _CONTEXT
    if _CONTEXT is None:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        if dist.get_backend() == "gloo":
            try:
                dist.monitored_barrier(timeout=timedelta(seconds=LEAVE_TIMEOUT_S))
            except RuntimeError:
                pass  # a peer is gone: leave anyway
        dist.destroy_process_group()
    _CONTEXT = None


class _LossModule(nn.Module):
    """Makes CRLModel.loss the forward() that DistributedDataParallel wraps."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.plain_loss = model.loss  # bound before prepare() replaces model.loss with the DDP route

    def forward(self, batch: dict[str, torch.Tensor], **kwargs: Any) -> tuple[Any, torch.Tensor]:
        record = self.plain_loss(batch, **kwargs)
        # DDP looks for tensors in the output to learn which parameters the backward pass will reach.
        return record, record.total


def shard_batch(batch: dict[str, torch.Tensor], rank: int, world_size: int) -> dict[str, torch.Tensor]:
    """This rank's rows of a batch: `rows[rank::world_size]` of every modality (disjoint, covering)."""
    return {name: x[rank::world_size] for name, x in batch.items()}


def prepare(model: nn.Module, context: DistContext | None = None) -> nn.Module:
    """Route `model.loss` through DistributedDataParallel on this rank's share of each batch.

    Gradient-enabled calls (training steps) are sharded and synchronised; calls under no_grad (validation,
    encoding) see the whole batch on every rank, so every rank computes the same validation loss. Returns
    the model (moved to the rank's device), unchanged when not distributed.
    """
    context = context or _CONTEXT
    if context is None or context.world_size < 2:
        return model
    from torch.nn.parallel import DistributedDataParallel

    model.to(context.device)
    # A rank's shard may hold nobody lacking a modality while another's does: the imputers run on every shard.
    model.always_impute = True
    ddp = DistributedDataParallel(
        _LossModule(model),
        device_ids=[context.device.index] if context.device.type == "cuda" else None,
        # Every parameter reaches the loss at every step (masked graph entries get zero gradients, not none).
        find_unused_parameters=False,
    )
    plain_loss = ddp.module.plain_loss
    rank, world = context.rank, context.world_size

    def loss(batch: dict[str, torch.Tensor], **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            return plain_loss(batch, **kwargs)
        # DDP (find_unused_parameters=False) expects a gradient for every parameter at every step, so the
        # frozen representation is back-propagated through here too (its learning rate keeps it still).
        if kwargs.get("frozen_representation"):
            kwargs["frozen_representation"] = False
        return ddp(shard_batch(batch, rank, world), **kwargs)[0]

    model.loss = loss  # type: ignore[method-assign]
    # Keep the wrapper alive with the model, outside nn.Module's registry (a submodule would make a cycle).
    model.__dict__["_crl_ddp"] = ddp
    return model


def any_rank(flag: bool, context: DistContext | None = None) -> bool:
    """True on every rank when `flag` is True on any one (so all ranks stop at the same step)."""
    context = context or _CONTEXT
    if context is None or context.world_size < 2:
        return flag
    import torch.distributed as dist

    device = context.device if context.backend == "nccl" else torch.device("cpu")
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(context: DistContext | None = None) -> None:
    """Wait for every rank (no-op when not distributed)."""
    context = context or _CONTEXT
    if context is None or context.world_size < 2:
        return
    import torch.distributed as dist

    dist.barrier()


def torchrun_command(nproc: int, module_args: Sequence[str], nnodes: int = 1) -> list[str]:
    """`python -m torch.distributed.run --nproc_per_node N -m <module args>` for one machine (standalone rendezvous)."""
    if nproc < 1:
        raise TrainingError(f"--gpus must be at least 1 (got {nproc})")
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    if nnodes == 1:
        command.append("--standalone")
    return [*command, "-m", *module_args]


def launch(nproc: int, module_args: Sequence[str], env: dict[str, str] | None = None) -> int:
    """Run `module_args` under torchrun with `nproc` processes on this machine and return its exit code."""
    merged = {**os.environ, **(env or {})}
    return subprocess.call(torchrun_command(nproc, module_args), env=merged)
