"""Hutch++ trace estimation (Meyer, Musco, Musco & Woodruff 2021, Algorithm 1), in two data passes.

With ``m`` products: draw ``S`` and ``G`` (``n x m/3`` probes each), take an orthonormal basis ``Q`` of
``A S`` (``m/3`` products), and return

    tr(A) ≈ tr(Qᵀ A Q) + (3/m) Σ_i g_iᵀ (I - QQᵀ) A (I - QQᵀ) g_i.

The first term is computed exactly; the second is Hutchinson's estimator on the deflated operator, whose
variance no longer contains the top of the spectrum (Hessians: a few outliers carry much of ``||A||_F``).
The estimate is unbiased for any ``Q`` independent of ``G`` (here: ``G`` is drawn before ``Q`` is formed,
and ``Q`` depends on ``S`` only), and exact when ``rank(A) <= m/3``. ``A Q`` and ``A (I - QQᵀ) G`` are
multiplied together, so the whole estimate costs two passes over the data when ``batch_size >= 2m/3``.

Standard error: the sample standard deviation of the deflated samples over ``sqrt(m/3)``, i.e. conditional
on ``Q`` (the exactly computed part has no sampling error given ``Q``).
"""

from __future__ import annotations

import time

import torch

from hessianlab.curvature.block_lanczos import gram, orthonormal_block
from hessianlab.curvature.eigs import shares_a_pass
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.results import matmat64
from hessianlab.curvature.trace import DISTRIBUTIONS, TraceResult, random_probes, standard_error
from hessianlab.errors import ConfigError


def _products(op: LinearOperator, X: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``A X`` for float64 ``X`` (n, c), ``batch_size`` columns per product call."""
    return torch.cat([matmat64(op, X[:, i:i + batch_size]) for i in range(0, X.shape[1], batch_size)], dim=1)


def hutchpp_trace(
    op: LinearOperator,
    *,
    num_matvecs: int = 99,
    seed: int = 0,
    distribution: str = "rademacher",
    batch_size: int | None = None,
) -> TraceResult:
    """Estimate ``tr(A)`` by Hutch++ with ``num_matvecs`` products (a multiple of 3 is used: ``3 * (m // 3)``).

    Args:
        op: any :class:`LinearOperator` of size ``n``.
        num_matvecs: product budget ``m >= 6``: ``m/3`` sketch, ``m/3`` for ``A Q``, ``m/3`` deflated probes.
        seed: seeds ``S`` and ``G`` (CPU generator; ``G`` is drawn right after ``S``).
        distribution: ``"rademacher"`` (default) or ``"gaussian"`` probes.
        batch_size: columns per ``op.matmat``; default all ``m/3`` sketch columns in one call and
            ``2m/3`` in the second when the operator computes a block in one pass, else 1.

    Returns:
        :class:`TraceResult` with ``method="hutch++"``, ``low_rank_trace = tr(Qᵀ A Q)``, ``low_rank = m/3``,
        ``samples`` the ``m/3`` deflated samples and ``estimate = low_rank_trace + mean(samples)``.
    """
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    r = int(num_matvecs) // 3
    if r < 2:
        raise ConfigError(f"num_matvecs must be at least 6 for Hutch++, got {num_matvecs}")
    r = min(r, op.size)
    if batch_size is None:
        batch_size = 2 * r if shares_a_pass(op) else 1
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    t0 = time.perf_counter()
    mv_before, passes_before = op.num_matvecs, op.num_passes
    gen = torch.Generator().manual_seed(seed)
    S = random_probes(op.size, r, distribution, gen).to(op.device).to(op.dtype).to(torch.float64)
    G = random_probes(op.size, r, distribution, gen).to(op.device).to(op.dtype).to(torch.float64)
    Q, _ = orthonormal_block(S[:, :0], _products(op, S, min(batch_size, r)), r, gen)
    Gd = G - Q @ gram(Q, G)
    AX = _products(op, torch.cat([Q, Gd], dim=1), batch_size)
    low_rank_trace = float((Q * AX[:, :r]).sum())
    samples = (Gd * AX[:, r:]).sum(dim=0).cpu()
    return TraceResult(
        estimate=low_rank_trace + float(samples.mean()),
        standard_error=standard_error(samples),
        samples=samples,
        num_matvecs=op.num_matvecs - mv_before,
        seconds=time.perf_counter() - t0,
        distribution=distribution,
        seed=seed,
        tol=None,
        stopped_early=False,
        num_passes=op.num_passes - passes_before,
        method="hutch++",
        low_rank_trace=low_rank_trace,
        low_rank=r,
        operator_settings=dict(op.settings),
    )
