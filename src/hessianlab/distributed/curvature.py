"""Curvature over samples sharded across ranks: local products, one all-reduce per product.

Semantics: the samples ``S`` (``N`` of them) are chosen exactly as a one-process operator chooses them
(:func:`hessianlab.curvature.param_hessian.select_samples`, same seed), then split contiguously across the
``P`` ranks (:mod:`hessianlab.distributed.sharding`). Rank ``r`` holds the operator ``A_r`` of the mean loss
over its ``n_r`` samples, and :class:`AllReduceOperator` computes

    A v = Σ_r (n_r / N) A_r v        (one all-reduce of a length-``n`` vector per product),

the Hessian (or GGN) of the mean loss over all ``N`` samples, the operator one process builds on all the
data. The product is identical on every rank, so a solver run on every rank with the same seed (same start
vector) follows the same iterates and returns the same eigenpairs; every rank must run the same solver
calls, since each product is a collective. Results agree with one process to rounding (the sum is ordered
differently). A rank with an empty shard contributes zeros but joins every all-reduce.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from hessianlab.curvature.hvp import LossFn
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.param_hessian import (
    DatasetCurvatureOperator, ParamHessian, Samples, loss_and_gradient, resolve_data, select_samples,
)
from hessianlab.distributed.context import DistContext, all_reduce_sum, current
from hessianlab.distributed.sharding import shard
from hessianlab.errors import ConfigError


class AllReduceOperator(LinearOperator):
    """``Σ_r (n_r / N) A_r``: a rank-local operator of the mean over ``n_r`` samples, averaged over ranks.

    Args:
        local: this rank's operator ``A_r`` (same size, dtype and device on every rank).
        local_count: ``n_r`` (may be ``0``: ``local`` is then never called and contributes zeros).
        ctx: process group context (default: :func:`~hessianlab.distributed.context.current`).
        settings: extra entries for :attr:`settings` (what defines the global operator).

    Construction is a collective (one all-reduce gathers every rank's count); ``N = Σ_r n_r`` must be
    positive. ``settings`` holds the local operator's settings with ``samples = N``, ``world_size`` and
    ``shard_samples`` (every rank's count), the same on every rank.
    """

    def __init__(self, local: LinearOperator, local_count: int, *, ctx: DistContext | None = None,
                 settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(local.size, local.dtype, local.device)
        self.local = local
        self.ctx = ctx if ctx is not None else current()
        counts = torch.zeros(self.ctx.world_size, dtype=torch.float64, device=local.device)
        counts[self.ctx.rank] = int(local_count)
        self.shard_samples = [int(c) for c in all_reduce_sum(counts, self.ctx).tolist()]
        self.local_count = int(local_count)
        self.num_samples = sum(self.shard_samples)
        if self.num_samples < 1:
            raise ConfigError("no rank holds a sample; pass at least one sample to the sharded operator")
        self.weight = self.local_count / self.num_samples
        self._extra = dict(settings or {})

    @property
    def settings(self) -> Mapping[str, Any]:
        return {**self.local.settings, "operator": type(self).__name__, "local_operator": type(self.local).__name__,
                "samples": self.num_samples, "world_size": self.ctx.world_size,
                "shard_samples": list(self.shard_samples), **self._extra}

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        out = self.local.matvec(v) * self.weight if self.local_count else torch.zeros_like(v, dtype=self.dtype)
        return all_reduce_sum(out.contiguous(), self.ctx)

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """``A @ V`` for ``V`` ``(n, k)``: the local block product, then one all-reduce of ``(n, k)``."""
        if V.dim() != 2 or V.shape[0] != self.size:
            raise ValueError(f"matmat expects shape ({self.size}, k), got {tuple(V.shape)}")
        self.num_matvecs += V.shape[1]
        self.num_passes += 1
        out = self.local.matmat(V) * self.weight if self.local_count else torch.zeros_like(V, dtype=self.dtype)
        return all_reduce_sum(out.contiguous(), self.ctx)


def sharded_curvature(
    model: nn.Module,
    loss_fn: LossFn | None,
    data: Any,
    *,
    operator: type[DatasetCurvatureOperator] = ParamHessian,
    samples: Samples = "all",
    seed: int = 0,
    ctx: DistContext | None = None,
    **kw: Any,
) -> AllReduceOperator:
    """The curvature ``operator`` (``ParamHessian``, ``GGN``) of the mean loss over ``samples`` of ``data``,
    with the samples sharded across ranks (see the module docstring).

    Every rank passes the same model, data, ``samples`` and ``seed``; ``kw`` (``chunk_size``, ``params``,
    ``mode``, ``dtype``, ``hvp_method``) goes to each rank's local operator. Train mode with BatchNorm is
    refused across several ranks: each shard would be normalised with its own statistics.
    """
    ctx = ctx if ctx is not None else current()
    x, y = resolve_data(data)
    chosen = select_samples(x.shape[0], samples, seed)
    indices = torch.arange(x.shape[0]) if chosen is None else chosen
    mine = shard(indices, ctx)
    if ctx.is_distributed and kw.get("mode") == "train" and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ConfigError("BatchNorm in train mode on data sharded across ranks changes the operator; use mode='eval'")
    # an empty shard still needs an operator of the right layout; it is built on one sample and never called
    local = operator(model, loss_fn, (x, y), samples=mine if mine.numel() else indices[:1], seed=seed, **kw)
    selection = "all" if isinstance(samples, str) else "random" if isinstance(samples, int) else "indices"
    return AllReduceOperator(local, int(mine.numel()), ctx=ctx, settings={"sample_selection": selection, "seed": seed})


def sharded_loss_and_gradient(op: AllReduceOperator) -> tuple[float, torch.Tensor]:
    """Mean loss and its flat gradient ``(n,)`` over all ranks' samples (one all-reduce), the same on every
    rank. ``op.local`` must be a dataset operator (as :func:`sharded_curvature` builds)."""
    if not isinstance(op.local, DatasetCurvatureOperator):
        raise ConfigError("sharded_loss_and_gradient needs an operator built by sharded_curvature")
    packed = torch.zeros(op.size + 1, dtype=op.dtype, device=op.device)
    if op.local_count:
        value, grad = loss_and_gradient(op.local)
        packed[:-1] = grad * op.weight
        packed[-1] = value * op.weight
    all_reduce_sum(packed, op.ctx)
    return float(packed[-1]), packed[:-1]
