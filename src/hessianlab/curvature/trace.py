"""Hutchinson's stochastic trace estimator (Hutchinson 1990; Avron & Toledo 2011; Yao et al. 2020).

``tr(A) = E[zᵀ A z]`` for probes ``z`` with ``E[z zᵀ] = I``: Rademacher (entries ±1, the minimum-variance
choice for a fixed matrix) or standard Gaussian. The estimate is the mean of ``m`` samples ``zᵀ A z`` and
its standard error is the sample standard deviation over ``sqrt(m)``. Probes are multiplied ``batch_size`` at a
time (one ``op.matmat``, one pass over the data for operators that batch); the probes a seed gives do not
depend on the batching. :func:`hessianlab.curvature.hutchpp.hutchpp_trace` deflates the top of the spectrum
first (Hutch++), which helps when a few outliers dominate the trace.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from hessianlab.curvature.block_lanczos import DEFAULT_BLOCK_SIZE
from hessianlab.curvature.eigs import shares_a_pass
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.results import matmat64
from hessianlab.errors import ConfigError
from hessianlab.friendly import friendly_result

DISTRIBUTIONS = ("rademacher", "gaussian")
MIN_SAMPLES_FOR_EARLY_STOP = 10


@friendly_result
@dataclass(frozen=True)
class TraceResult:
    """A Hutchinson trace estimate with its uncertainty.

    Attributes:
        estimate: mean of the samples, an unbiased estimate of ``tr(A)``.
        standard_error: sample standard deviation / ``sqrt(num_samples)`` (``nan`` for one sample).
        samples: ``(num_samples,)`` float64, the values ``zᵀ A z`` in draw order.
        num_matvecs: products spent (delta of ``op.num_matvecs``).
        seconds: wall time.
        distribution: ``"rademacher"`` or ``"gaussian"``.
        seed: seed of the probe generator.
        tol: the early-stopping tolerance on ``standard_error / |estimate|`` (``None``: none).
        stopped_early: the tolerance was met before ``num_samples`` probes were used.
        num_passes: passes over the operator's data (delta of ``op.num_passes``).
        method: ``"hutchinson"`` or ``"hutch++"``.
        low_rank_trace: Hutch++ only: ``tr(Qᵀ A Q)``, the exactly computed part (``0.0`` for Hutchinson);
            ``estimate = low_rank_trace + mean(samples)`` and ``samples`` are those of the deflated operator.
        low_rank: Hutch++ only: columns of ``Q`` (``0`` for Hutchinson).
        operator_settings: copy of ``op.settings``.
    """

    estimate: float
    standard_error: float
    samples: torch.Tensor
    num_matvecs: int
    seconds: float
    distribution: str
    seed: int
    tol: float | None
    stopped_early: bool
    num_passes: int = 0
    method: str = "hutchinson"
    low_rank_trace: float = 0.0
    low_rank: int = 0
    operator_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        """Number of probes used."""
        return int(self.samples.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (samples included as a list)."""
        se = self.standard_error
        return {
            "estimate": float(self.estimate),
            "standard_error": float(se) if math.isfinite(se) else None,
            "num_samples": self.num_samples,
            "samples": [float(x) for x in self.samples.tolist()],
            "num_matvecs": int(self.num_matvecs),
            "seconds": float(self.seconds),
            "distribution": self.distribution,
            "seed": int(self.seed),
            "tol": self.tol,
            "stopped_early": bool(self.stopped_early),
            "num_passes": int(self.num_passes),
            "method": self.method,
            "low_rank_trace": float(self.low_rank_trace),
            "low_rank": int(self.low_rank),
            "operator_settings": dict(self.operator_settings),
        }


def random_probes(n: int, count: int, distribution: str, gen: torch.Generator) -> torch.Tensor:
    """``(n, count)`` float64 probes on the CPU, drawn one probe after another (so batching never changes
    the probes a seed gives)."""
    cols = []
    for _ in range(count):
        if distribution == "rademacher":
            cols.append(torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2.0 - 1.0)
        else:
            cols.append(torch.randn(n, generator=gen, dtype=torch.float64))
    return torch.stack(cols, dim=1)


def standard_error(x: torch.Tensor) -> float:
    return float(x.std(unbiased=True) / math.sqrt(x.numel())) if x.numel() > 1 else float("nan")


def hutchinson_trace(
    op: LinearOperator,
    *,
    num_samples: int = 100,
    seed: int = 0,
    distribution: str = "rademacher",
    tol: float | None = None,
    batch_size: int | None = None,
) -> TraceResult:
    """Estimate ``tr(A)`` from at most ``num_samples`` products ``zᵀ A z``.

    Args:
        op: any :class:`LinearOperator`.
        num_samples: maximum number of probes.
        seed: seeds the probes (CPU generator; the same probes on every device).
        distribution: ``"rademacher"`` (default) or ``"gaussian"``.
        tol: stop early once ``standard_error / |estimate| < tol``, checked after each batch once at least
            ``MIN_SAMPLES_FOR_EARLY_STOP`` (10) samples exist. ``None``: use all ``num_samples``.
        batch_size: probes per ``op.matmat`` call (``1``: one ``matvec`` each); default
            ``DEFAULT_BLOCK_SIZE`` (8) when the operator computes a block in one pass
            (:func:`~hessianlab.curvature.eigs.shares_a_pass`), else 1. Same probes, same samples (to product
            rounding) whatever the batching; with ``tol`` the stopping test runs after each batch.

    Returns:
        :class:`TraceResult`.
    """
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    if batch_size is None:
        batch_size = DEFAULT_BLOCK_SIZE if shares_a_pass(op) else 1
    if num_samples < 1 or batch_size < 1:
        raise ConfigError(f"num_samples and batch_size must be >= 1, got {num_samples}, {batch_size}")
    if tol is not None and not tol > 0:
        raise ConfigError(f"tol must be positive or None, got {tol}")
    t0 = time.perf_counter()
    mv_before, passes_before = op.num_matvecs, op.num_passes
    gen = torch.Generator().manual_seed(seed)
    values: list[torch.Tensor] = []
    done, stopped_early = 0, False
    while done < num_samples:
        b = min(batch_size, num_samples - done)
        Z = random_probes(op.size, b, distribution, gen)
        Z = Z.to(op.device).to(op.dtype).to(torch.float64)  # the probes exactly as the operator sees them
        values.append((Z * matmat64(op, Z)).sum(dim=0).cpu())
        done += b
        if tol is not None and done >= MIN_SAMPLES_FOR_EARLY_STOP and done < num_samples:
            x = torch.cat(values)
            est = float(x.mean())
            if est != 0 and standard_error(x) / abs(est) < tol:
                stopped_early = True
                break
    samples = torch.cat(values)
    return TraceResult(
        estimate=float(samples.mean()),
        standard_error=standard_error(samples),
        samples=samples,
        num_matvecs=op.num_matvecs - mv_before,
        seconds=time.perf_counter() - t0,
        distribution=distribution,
        seed=seed,
        tol=tol,
        stopped_early=stopped_early,
        num_passes=op.num_passes - passes_before,
        operator_settings=dict(op.settings),
    )
