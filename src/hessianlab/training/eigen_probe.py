"""The eigenvalue measurement behind ABS/ABSA's checks: the top eigenvalue of the loss Hessian on a fixed
seeded sample of the training set, eval mode, with its cost and convergence.

Under ``torchrun`` (a process group of several ranks, every rank calling the probe at the same point) the
probe's samples are sharded across the ranks (:func:`hessianlab.distributed.sharded_curvature`): each rank
computes its share of every Hessian-vector product and one all-reduce sums them, so the solve costs each rank
``1/P`` of the products and the eigenvalue is identical on every rank; it equals the one-process eigenvalue
to rounding. The probe runs on the model's device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from hessianlab.curvature import ParamHessian
    from hessianlab.distributed import AllReduceOperator


def in_memory_size(data: Any) -> int | None:
    """``N`` of in-memory data (``(x, y)`` tensors or an object with ``.labels``); ``None`` for a loader."""
    if hasattr(data, "images") and hasattr(data, "labels"):
        return int(data.labels.shape[0])
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return int(data[0].shape[0])
    return None


def capped_samples(samples: int | str, data: Any) -> int | str:
    """``samples`` for ``data``: ``"all"`` when it asks for at least the ``N`` of in-memory data (a loader's
    size is not known up front; there ``samples`` must be ``"all"``, as :func:`hessianlab.data.source.as_batches` says)."""
    n = in_memory_size(data)
    if samples == "all" or (n is not None and int(samples) >= n):
        return "all"
    return int(samples)


@dataclass(frozen=True)
class EigenMeasurement:
    """One top-eigenvalue solve: ``value`` (loss-Hessian units), wall ``seconds``, Hessian-vector products,
    relative residual, the solver's converged flag, ``ranks``: over how many processes the products were
    sharded (1 in a single process), and ``vector``: the unit Ritz vector ``(P,)`` over the probe's selected
    parameters (the start of the next check's warm-started solve; ``None`` from probes that do not give one)."""

    value: float
    seconds: float
    matvecs: int
    rel_residual: float
    converged: bool
    ranks: int = 1
    vector: torch.Tensor | None = field(default=None, repr=False, compare=False)


def probe_operator(model: nn.Module, data: Any, *, samples: int | str, seed: int, chunk_size: int,
                   params: str | None, dtype: torch.dtype, loss_fn: Any = None) -> ParamHessian | AllReduceOperator:
    """The Hessian of the mean loss over ``samples`` of ``data`` (eval mode, ``dtype``, the block ``params``)
    that the trainer's probes measure: a :class:`~hessianlab.curvature.ParamHessian` in one process, the same
    operator with its samples sharded across ranks when a process group of several ranks is active (a
    collective: every rank must build it and run the same solver calls). ``loss_fn``: as for
    :class:`~hessianlab.curvature.ParamHessian` (``None``: cross-entropy)."""
    from hessianlab.curvature import ParamHessian
    from hessianlab.distributed import current, sharded_curvature

    kw: dict[str, Any] = {"samples": samples, "seed": seed, "chunk_size": chunk_size, "params": params,
                          "mode": "eval", "dtype": dtype}
    ctx = current()
    return sharded_curvature(model, loss_fn, data, ctx=ctx, **kw) if ctx.is_distributed else ParamHessian(
        model, loss_fn, data, **kw)


@dataclass(frozen=True)
class EigenProbe:
    """Top eigenvalue of the Hessian of the mean training loss on a fixed seeded sample, eval mode.

    Attributes:
        samples: ``"all"`` or a number of training samples (capped at the training-set size); the same
            samples at every check (drawn with ``seed``).
        seed: seeds the sample choice and the solver's start vector.
        tol: relative residual tolerance of the solver.
        params: parameter-name regex for a block Hessian (e.g. the last layers), ``None`` = all parameters.
        method: ``"power"`` (largest magnitude, as PyHessian/ABSA) or ``"lanczos"`` (largest algebraic).
        chunk_size: samples per Hessian-vector-product chunk (bounds memory).
    """

    samples: int | str = 2048
    seed: int = 0
    tol: float = 1e-3
    params: str | None = None
    method: str = "lanczos"
    chunk_size: int = 1024

    def __call__(self, model: nn.Module, data: Any, v0: torch.Tensor | None = None) -> EigenMeasurement:
        """Measure on ``model`` (its parameters now, on its device) over ``data`` (a Dataset, ``(x, y)`` or a
        re-iterable of batches such as a DataLoader, with ``samples="all"``), starting the solver from ``v0``
        ``(P,)`` when given (a previous measurement's ``vector``: a warm start, same stopping rule) instead of
        the seeded random vector; under torchrun every rank must call it at the same point (see the module
        docstring)."""
        from hessianlab.curvature import lanczos, power_iteration

        started = time.perf_counter()
        op = probe_operator(model, data, samples=capped_samples(self.samples, data), seed=self.seed, chunk_size=self.chunk_size,
                            params=self.params, dtype=next(model.parameters()).dtype)
        if self.method == "power":
            result = power_iteration(op, 1, tol=self.tol, seed=self.seed, v0=v0)
        else:
            result = lanczos(op, 1, which="LA", tol=self.tol, seed=self.seed, v0=v0)
        return EigenMeasurement(float(result.eigenvalues[0]), time.perf_counter() - started, int(result.num_matvecs),
                                float(result.relative_residuals[0]), bool(result.converged),
                                int(op.settings.get("world_size", 1)), vector=result.eigenvectors[:, 0].detach())
