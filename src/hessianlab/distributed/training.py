"""One data-parallel SGD gradient on a global batch: DistributedDataParallel with shard-weighted losses.

Semantics (why ``P`` processes train exactly like one process on the same global batches):

* Every rank builds the same seeded :class:`~hessianlab.data.BatchIterator` and queries the same batch-size
  schedule before every update, so every rank draws the same global batch ``(x, y)`` of ``B`` samples; the
  step keeps the rank's contiguous shard (:func:`hessianlab.distributed.sharding.shard`).
* Rank ``r`` back-propagates ``L_r = (P / B) Σ_{i in shard r} ℓ_i``. DDP averages gradients over the ``P``
  ranks, so every rank ends with ``(1 / B) Σ_i ∇ℓ_i``, the gradient of the global-batch mean loss, whatever
  the shard sizes. A rank whose shard is empty (``B < P``) contributes a zero gradient but still joins the
  all-reduce. The optimizers then apply identical updates, so the weights stay identical on every rank.
* The returned loss is the global-batch mean (one all-reduce of the shard sums, after the backward pass),
  identical on every rank, so a non-finite loss stops every rank together.
* Gradient accumulation (``max_physical``) applies per rank, to its shard (micro-batches under ``no_sync``).
* Dropout draws its masks per rank from the same seeded stream, so runs with Dropout equal single-process
  training only in distribution.
* Ranks must agree on ``B``; one all-reduce per update checks it and raises instead of deadlocking.
* BatchNorm: each rank normalises with its own shard's statistics (as plain DDP does), so such runs do not
  equal single-process training and need at least two samples per shard. After every update rank 0's
  buffers (running statistics) are broadcast, so evaluation and stopping decisions agree across ranks.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hessianlab.distributed.context import DistContext, all_reduce_max, all_reduce_sum, current
from hessianlab.distributed.sharding import shard
from hessianlab.training.accumulate import micro_batches

log = logging.getLogger(__name__)

SumLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_sum(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Summed (not averaged) cross-entropy of ``logits`` ``(n, C)`` against ``y`` ``(n,)``; ``0`` when ``n = 0``."""
    return F.cross_entropy(logits, y, reduction="sum")


class DataParallelStep:
    """Forward and backward passes of the global-batch mean loss, the batch split across ranks.

    Args:
        model: the module being trained, identical on every rank (same seed or the same checkpoint); it
            stays the module the caller evaluates and checkpoints, the DDP wrapper is internal.
        ctx: the process group context (default :func:`~hessianlab.distributed.context.current`); in a
            single process no wrapper is made and the step is plain gradient accumulation.
        sum_loss: ``sum_loss(logits, y)`` summed over the samples (default: cross-entropy).

    Called as ``step(model, x, y, max_physical)`` after ``optimizer.zero_grad()``, the signature of
    :func:`hessianlab.training.accumulate.accumulate_gradients`, which it replaces in
    :func:`hessianlab.training.trainer.sgd_epoch`: it fills ``.grad`` with the gradient of the mean loss over
    the ``B`` samples of the global batch and returns that loss (a float, the same on every rank, possibly
    non-finite: the caller decides whether to step). ``max_physical`` bounds the samples per forward pass
    *on each rank*: a larger shard is processed in micro-batches under ``no_sync`` and only the last
    backward pass all-reduces (ranks may need different numbers of micro-batches).
    """

    def __init__(self, model: nn.Module, ctx: DistContext | None = None, sum_loss: SumLoss = cross_entropy_sum):
        self.module = model
        self.ctx = ctx if ctx is not None else current()
        self.sum_loss = sum_loss
        self._has_batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        self._ddp: DistributedDataParallel | None = None
        if self.ctx.is_distributed:
            if self._has_batchnorm:
                log.warning("BatchNorm with data-parallel training normalises each rank's shard separately; "
                            "the run will not equal single-process training")
            device = next(model.parameters()).device  # cuda:LOCAL_RANK under torchrun with CUDA
            device_ids = [device.index] if device.type == "cuda" else None
            self._ddp = DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)
            if self.ctx.is_main:
                log.info("data-parallel training: %d processes (%s), each global batch split across them",
                         self.ctx.world_size, self.ctx.backend)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, max_physical: int | None = None) -> float:
        """Gradient of the mean loss over the global batch ``x`` ``(B, ...)``, ``y`` ``(B,)`` into ``.grad``."""
        if model is not self.module:
            raise ValueError("DataParallelStep was built for another model; build one per trained model")
        batch = int(x.shape[0])
        self._check_same_batch(batch, x.device)
        xs, ys = shard(x, self.ctx), shard(y, self.ctx)
        # an empty shard still runs one (zero) backward pass: the gradient all-reduce needs every rank
        slices = micro_batches(int(xs.shape[0]), max_physical) if xs.shape[0] else [(0, 0)]
        forward = self._ddp if self._ddp is not None else self.module
        total = torch.zeros(1, dtype=torch.float64, device=x.device)
        for i, (start, stop) in enumerate(slices):
            defer = self._ddp is not None and i < len(slices) - 1
            with self._ddp.no_sync() if defer else contextlib.nullcontext():
                part = self.sum_loss(forward(xs[start:stop]), ys[start:stop])
                (part * (self.ctx.world_size / batch)).backward()
            total += part.detach().to(torch.float64)
        self._sync_buffers()
        return float(all_reduce_sum(total, self.ctx)[0] / batch)

    def _check_same_batch(self, batch: int, device: torch.device) -> None:
        if not self.ctx.is_distributed:
            return
        sizes = all_reduce_max(torch.tensor([batch, -batch], dtype=torch.int64, device=device), self.ctx)
        if int(sizes[0]) != -int(sizes[1]):
            raise RuntimeError(f"ranks drew global batches of different sizes ({-int(sizes[1])}..{int(sizes[0])}); "
                               "the batch-size schedule must give the same size on every rank")

    def _sync_buffers(self) -> None:
        """Broadcast rank 0's BatchNorm running statistics (no-op without BatchNorm or in one process)."""
        if self.ctx.is_distributed and self._has_batchnorm:
            for buffer in self.module.buffers():
                dist.broadcast(buffer, src=0)
