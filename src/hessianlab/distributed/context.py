"""The process group of a ``torchrun`` launch, with a no-op single-process stand-in.

``torchrun`` (``python -m torch.distributed.run``) starts one process per rank and sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. :func:`init_from_env` reads them and
joins the group (``init_method='env://'``); without ``WORLD_SIZE`` or with ``WORLD_SIZE=1`` it joins nothing
and returns the single-process context, so the same code runs under ``python`` and under ``torchrun``.

Backend: it follows the training device (:mod:`hessianlab.device`), not the host. Training on the CPU uses
``gloo`` (also on a host with GPUs: no NCCL communicator is created). Training on CUDA puts each rank on
``cuda:LOCAL_RANK`` and uses ``"cpu:gloo,cuda:nccl"``: the model's gradients, the sharded curvature products
and the counters all live on the GPU and go through nccl, while a CPU tensor handed to a collective still
works (through gloo) instead of being refused as by a plain ``nccl`` group. The group is bound to the
rank's GPU (``device_id``), so barriers use it too.

Collectives are called by every rank in the same order; all helpers here are no-ops in a single process.
"""

from __future__ import annotations

import datetime
import gc
import os
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.distributed as dist

from hessianlab.errors import ConfigError

_ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` in ``[0, world_size)``, ``local_rank`` on its host, ``backend``
    (``None`` in a single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_distributed(self) -> bool:
        """``True`` when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """``True`` on rank 0, the only rank that writes files."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        """The device the group was made for: ``cuda:LOCAL_RANK`` when its backend includes nccl, else the CPU."""
        return torch.device("cuda", self.local_rank) if "nccl" in (self.backend or "") else torch.device("cpu")


def default_backend(device: torch.device | str = "cpu") -> str:
    """``"gloo"`` for training on the CPU, ``"cpu:gloo,cuda:nccl"`` on CUDA (see the module docstring)."""
    return "cpu:gloo,cuda:nccl" if torch.device(device).type == "cuda" else "gloo"


def _env_int(env: Mapping[str, str], key: str) -> int:
    try:
        return int(env[key])
    except KeyError:
        raise ConfigError(f"${key} is not set but WORLD_SIZE is; launch with torchrun, which sets "
                          f"{', '.join(_ENV_KEYS)}") from None
    except ValueError:
        raise ConfigError(f"${key}={env[key]!r} is not an integer; launch with torchrun") from None


def init_from_env(env: Mapping[str, str] | None = None, *, device: torch.device | str = "cpu",
                  timeout_s: float = 600.0) -> DistContext:
    """Join the process group described by the torchrun variables in ``env`` (default ``os.environ``).

    ``device`` is where this rank trains (:func:`hessianlab.device.resolve_device` maps ``cuda`` to
    ``cuda:LOCAL_RANK``); it picks the backend (:func:`default_backend`). Returns the single-process context
    when ``WORLD_SIZE`` is unset or ``1``, and the existing group's context when one is already initialised.
    ``timeout_s`` bounds how long a collective waits for a rank that never arrives.
    """
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env or _env_int(env, "WORLD_SIZE") == 1:
        return DistContext()
    if dist.is_initialized():
        return current()
    world_size, rank = _env_int(env, "WORLD_SIZE"), _env_int(env, "RANK")
    local_rank = _env_int(env, "LOCAL_RANK")
    if not 0 <= rank < world_size:
        raise ConfigError(f"RANK={rank} is outside [0, WORLD_SIZE={world_size}); launch with torchrun")
    if not env.get("MASTER_ADDR"):
        raise ConfigError("$MASTER_ADDR is not set but WORLD_SIZE is; launch with torchrun, which sets it")
    _env_int(env, "MASTER_PORT")
    device = torch.device(device)
    if device.type == "cuda":
        if device.index != local_rank:
            raise ConfigError(f"rank with LOCAL_RANK={local_rank} asked to train on {device}; each rank uses "
                              "cuda:LOCAL_RANK (pass --device cuda)")
        torch.cuda.set_device(device)
    backend = default_backend(device)
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=timeout_s),
                            device_id=device if device.type == "cuda" else None)
    return DistContext(rank, world_size, local_rank, backend)


def current() -> DistContext:
    """The context of the initialised process group, or the single-process context."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                       str(dist.get_backend()))


def shutdown() -> None:
    """Leave the process group (no-op when none is initialised).

    All ranks first meet at a barrier, and unreachable DistributedDataParallel wrappers are collected, so no
    rank destroys the group while another still communicates or a DDP reducer still holds it (gloo aborts the
    process with "terminate called without an active exception" otherwise).
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        gc.collect()
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over ranks in place and return it (identity in a single process)."""
    if ctx.is_distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Element-wise maximum over ranks in place; returns ``tensor`` (identity in a single process)."""
    if ctx.is_distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def barrier(ctx: DistContext) -> None:
    """Wait until every rank gets here (no-op in a single process)."""
    if ctx.is_distributed:
        dist.barrier()
