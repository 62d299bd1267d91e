"""One curvature snapshot of a model during training: the measures a :class:`~hessianlab.tracking.Tracker`
records, each with its certificate.

:func:`snapshot` builds the Hessian of the mean loss over a fixed seeded sample of the training data (eval
mode; the same operator as ABS's probe, :func:`hessianlab.training.eigen_probe.probe_operator`, so under
``torchrun`` its products are sharded across the ranks) and measures, as asked:

=============  ==================================================================================================
measure        record fields
=============  ==================================================================================================
``grad_norm``  ``grad_norm``: Euclidean norm of the full-batch gradient over the sample; ``grad_norm_passes``,
               ``grad_norm_seconds``
``lambda1``    ``lambda1`` (and with ``k > 1`` the top-``k`` ``eigenvalues``, descending), the
               largest algebraic; ``lambda1_rel_residual`` (largest relative residual ``||Hv - λv|| / |λ|`` over the
               pairs), ``lambda1_converged``, ``lambda1_matvecs``, ``lambda1_passes``, ``lambda1_seconds``
``trace``      ``trace`` (Hutchinson, Rademacher probes), ``trace_se`` (its standard error), ``trace_matvecs``,
               ``trace_passes``, ``trace_seconds``
``eos``        ``eos = λ1 · lr / 2`` with ``lr`` the optimizer's current LR (``lr`` recorded too): gradient descent
               on the local quadratic is stable while it is below 1 (below ``1 + β`` with heavy-ball momentum β);
               Cohen et al. (2021)'s edge of stability is where it hovers at 1. Needs ``lambda1``.
=============  ==================================================================================================

Units: eigenvalues and the trace in loss units per squared parameter unit; norms in loss units per parameter
unit; seconds of wall time. A *pass* is one sweep over the sample's data (a gradient, one Hessian-vector
product or one batched block of them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hessianlab.errors import ConfigError

MEASURES = ("lambda1", "trace", "grad_norm", "eos")


@dataclass(frozen=True)
class SnapshotSettings:
    """What defines a snapshot's operator and solvers.

    Attributes:
        samples: ``"all"`` or the number of training samples (a fixed seeded subset of in-memory data,
            capped at ``N``); a DataLoader needs ``"all"`` (give it a ``Subset`` to measure on fewer).
        seed: seeds the sample choice, the Lanczos start vector and the trace probes.
        k: number of top eigenvalues (``lambda1`` measure).
        method: eigen-solver of :func:`~hessianlab.curvature.top_eigenpairs`: ``"lanczos"`` (the trainer's
            hook), ``"block"`` or ``"auto"``.
        tol: relative residual tolerance of the eigenvalues.
        trace_probes: Hutchinson probes of the ``trace`` measure.
        chunk_size: samples per Hessian-vector-product chunk (bounds memory).
        params: parameter-name regex for a block Hessian, ``None`` for all parameters.
        dtype: the operator's floating type.
        loss_fn: ``loss_fn(output, target)`` with ``reduction='mean'``; ``None`` is cross-entropy.
    """

    samples: int | str = 2048
    seed: int = 0
    k: int = 1
    method: str = "lanczos"
    tol: float = 1e-3
    trace_probes: int = 50
    chunk_size: int = 1024
    params: str | None = None
    dtype: torch.dtype = torch.float32
    loss_fn: Any = None


def check_measures(measures: tuple[str, ...]) -> tuple[str, ...]:
    """The measures as a tuple, refused with the fix when unknown or when ``eos`` comes without ``lambda1``."""
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise ConfigError(f"measures must be a non-empty subset of {MEASURES}, got {list(measures)}")
    if "eos" in measures and "lambda1" not in measures:
        raise ConfigError("the 'eos' measure (λ1·lr/2) needs 'lambda1' among the measures; add it")
    return tuple(measures)


def snapshot(model: nn.Module, data: Any, measures: tuple[str, ...], settings: SnapshotSettings, *,
             lr: float | None = None, v0: Any = None) -> tuple[dict[str, Any], Any]:
    """Measure ``measures`` on ``model`` (its parameters now) over ``data``; returns ``(fields, eigen)`` with
    ``eigen`` the :class:`~hessianlab.curvature.EigenResult` of the ``lambda1`` measure (``None`` without it).

    ``lr`` is the learning rate for ``eos``; ``v0`` an optional warm start of the eigen-solve: the previous
    snapshot's :class:`~hessianlab.curvature.EigenResult` or its eigenvectors ``(P, k)`` (see
    :func:`~hessianlab.curvature.top_eigenpairs`).
    """
    from hessianlab.curvature import hutchinson_trace, top_eigenpairs
    from hessianlab.curvature.param_hessian import gradient
    from hessianlab.distributed import AllReduceOperator, sharded_loss_and_gradient
    from hessianlab.training.eigen_probe import capped_samples, probe_operator

    op = probe_operator(model, data, samples=capped_samples(settings.samples, data), seed=settings.seed, chunk_size=settings.chunk_size,
                        params=settings.params, dtype=settings.dtype, loss_fn=settings.loss_fn)
    fields: dict[str, Any] = {}
    if "grad_norm" in measures:
        started = time.perf_counter()
        grad = sharded_loss_and_gradient(op)[1] if isinstance(op, AllReduceOperator) else gradient(op)
        fields.update(grad_norm=float(torch.linalg.vector_norm(grad.double())), grad_norm_passes=1,
                      grad_norm_seconds=time.perf_counter() - started)
    eigen = None
    if "lambda1" in measures:
        eigen = top_eigenpairs(op, settings.k, method=settings.method, which="LA", tol=settings.tol,
                               seed=settings.seed, v0=v0)
        fields["lambda1"] = float(eigen.eigenvalues[0])
        if settings.k > 1:
            fields["eigenvalues"] = [float(v) for v in eigen.eigenvalues]
        fields.update(lambda1_rel_residual=float(eigen.relative_residuals.max()),
                      lambda1_converged=bool(eigen.converged), lambda1_matvecs=int(eigen.num_matvecs),
                      lambda1_passes=int(eigen.num_passes), lambda1_seconds=float(eigen.seconds))
    if "trace" in measures:
        passes = op.num_passes
        trace = hutchinson_trace(op, num_samples=settings.trace_probes, seed=settings.seed)
        se = trace.standard_error
        fields.update(trace=float(trace.estimate), trace_se=se if se == se else None,
                      trace_matvecs=int(trace.num_matvecs), trace_passes=op.num_passes - passes,
                      trace_seconds=float(trace.seconds))
    if "eos" in measures:
        if lr is None:
            raise ConfigError("the 'eos' measure (λ1·lr/2) needs the learning rate: pass optimizer=<your torch "
                              "optimizer> to the Tracker")
        fields.update(lr=float(lr), eos=fields["lambda1"] * float(lr) / 2.0)
    return fields, eigen
