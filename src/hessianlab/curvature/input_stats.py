"""Input-space curvature summaries (Yao et al. 2018, Table 1) and a Theorem-1 checker.

:func:`input_stats` computes per-sample ``λ1^x`` (top eigenvalue of the input Hessian of the loss) and
``||∇_x ℓ||_2`` (input units, i.e. pixels in [0, 1] for hessianlab models) and summarises them.
:func:`theorem1_check` *reports* the spectrum shape of per-sample input Hessians (eigenvalue ratio,
numerical rank, rank <= number of classes); it does not assume the theorem holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn as nn

from hessianlab.curvature.hvp import LossFn
from hessianlab.curvature.input_hessian import InputHessian, batched_lanczos, input_top_eigenvalue, logit_jacobian
from hessianlab.curvature.modes import model_mode
from hessianlab.data.source import Samples, as_batches
from hessianlab.errors import ConfigError


@dataclass(frozen=True)
class Summary:
    """Mean, median and 10 % / 90 % quantiles of a per-sample quantity."""

    mean: float
    median: float
    q10: float
    q90: float

    @classmethod
    def of(cls, values: torch.Tensor) -> "Summary":
        v = values.detach().double().cpu()
        q = torch.quantile(v, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
        return cls(float(v.mean()), float(q[1]), float(q[0]), float(q[2]))


@dataclass(frozen=True)
class InputStats:
    """Per-sample ``eigenvalues`` (λ1^x), ``grad_norms`` and ``converged`` flags, all ``(n,)``, with
    their summaries; ``settings`` records samples, seed, dtype, Lanczos iterations and tolerance."""

    eigenvalues: torch.Tensor
    grad_norms: torch.Tensor
    converged: torch.Tensor
    eigenvalue_summary: Summary
    grad_norm_summary: Summary
    settings: Mapping[str, Any]


def input_stats(
    model: nn.Module,
    data: Any,
    *,
    batch_size: int = 256,
    loss_fn: LossFn | None = None,
    samples: Samples = "all",
    seed: int = 0,
    iters: int = 20,
    tol: float = 1e-3,
    dtype: torch.dtype = torch.float32,
) -> InputStats:
    """λ1^x and ``||∇_x ℓ||`` for the chosen samples, ``batch_size`` samples per batched pass (eval mode).

    ``data``: ``(x, y)`` tensors, a Dataset or a re-iterable of ``(x, y)`` batches such as a DataLoader
    (see :func:`hessianlab.data.source.as_batches`; ``samples`` selects from in-memory data only). Batches
    are split into at most ``batch_size`` samples and go to the model's device one at a time; the Lanczos
    start of the batch beginning at sample ``s`` (in pass order) is seeded with ``seed + s``.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    source = as_batches(data, samples=samples, seed=seed, chunk_size=batch_size, device=device)
    eigs, norms, conv = [], [], []
    start = 0
    for (xb, yb), _ in source:
        res = input_top_eigenvalue(model, xb, yb, loss_fn=loss_fn, iters=iters, tol=tol, seed=seed + start, dtype=dtype)
        g = InputHessian(model, loss_fn, xb, yb, dtype=dtype).gradient()
        eigs.append(res.eigenvalues)
        norms.append(g.reshape(g.shape[0], -1).norm(dim=1))
        conv.append(res.converged)
        start += xb.shape[0]
    eig, norm = torch.cat(eigs), torch.cat(norms)
    settings = {
        "samples": source.num_samples, "N": source.dataset_size, "seed": seed, "iters": iters, "tol": tol,
        "dtype": str(dtype).removeprefix("torch."), "mode": "eval", "batch_size": batch_size,
    }
    return InputStats(eig, norm, torch.cat(conv), Summary.of(eig), Summary.of(norm), settings)


@dataclass(frozen=True)
class Theorem1Report:
    """Per-sample spectrum shape of input Hessians (all tensors ``(N,)``) and a summary.

    ``ratio = eig_min / eig_max``; an eigenvalue counts as zero when ``|λ| <= max(rtol · max|λ|, floor)``,
    where ``floor`` ``(N,)`` is the roundoff level of the computed Hessian: ``64 · eps · C · ||J||₂²`` with
    ``J`` the ``(C, D)`` Jacobian of the logits w.r.t. the input and ``eps`` the machine epsilon of the dtype.
    (For cross-entropy the input Hessian of a piecewise-linear network is ``Jᵀ H_ℓ J`` with ``H_ℓ = diag(p) -
    p pᵀ``, whose entries are computed with an absolute error of order ``eps``; on a confidently classified
    sample ``H_ℓ`` itself is of order ``1 - p_max`` and may be smaller than that error, so a relative test
    alone would call roundoff "indefinite".) ``rank`` counts the non-zero eigenvalues; ``rank_exact`` is False
    only for Lanczos estimates whose Krylov space did not become invariant (the rank is then a lower bound).
    ``summary``: fraction with rank <= C, max rank, median/min ratio, fraction PSD (``eig_min`` not below
    minus the zero threshold).
    """

    eig_min: torch.Tensor
    eig_max: torch.Tensor
    ratio: torch.Tensor
    rank: torch.Tensor
    rank_le_classes: torch.Tensor
    rank_exact: torch.Tensor
    num_classes: int
    rtol: float
    floor: torch.Tensor
    method: str
    summary: Mapping[str, float]


def theorem1_check(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: LossFn | None = None,
    rtol: float = 1e-7,
    method: str = "auto",
    max_dense_dim: int = 1024,
    lanczos_steps: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Theorem1Report:
    """Spectra of per-sample input Hessians: dense ``eigvalsh`` (``D <= max_dense_dim`` when ``'auto'``)
    or batched Lanczos Ritz values (``lanczos_steps`` default ``2·C + 8``)."""
    if method not in ("auto", "dense", "lanczos"):
        raise ConfigError(f"method must be 'auto', 'dense' or 'lanczos', got {method!r}")
    op = InputHessian(model, loss_fn, x, y, dtype=dtype)
    N, D = op.num_samples, op.dim
    with torch.no_grad(), model_mode(model, "eval"):
        num_classes = int(op.logits(op.x[:1]).shape[1])
    if method == "dense" or (method == "auto" and D <= max_dense_dim):
        values, exact, method = torch.linalg.eigvalsh(op.dense()), torch.ones(N, dtype=torch.bool), "dense"
    else:
        gen = torch.Generator().manual_seed(int(seed))
        v0 = torch.randn(N, D, generator=gen, dtype=op.dtype).to(op.device)
        steps = lanczos_steps or 2 * num_classes + 8
        ritz = batched_lanczos(lambda v: op.hvp_batch(v).reshape(N, D), v0, steps, tol=0.0)
        values, exact, method = ritz.values, ritz.invariant, "lanczos"
    eig_min, eig_max = values.nan_to_num(float("inf")).amin(1), values.nan_to_num(float("-inf")).amax(1)
    scale = values.abs().nan_to_num(0.0).amax(1)
    _, jac = logit_jacobian(model, op)
    jac_norm2 = torch.linalg.matrix_norm(jac, ord=2) ** 2
    floor = 64 * torch.finfo(op.dtype).eps * num_classes * jac_norm2
    zero = torch.maximum(rtol * scale, floor)
    rank = (values.abs() > zero[:, None]).sum(1)
    ratio = eig_min / eig_max
    le = rank <= num_classes
    summary = {
        "fraction_rank_le_classes": float(le.double().mean()),
        "max_rank": float(rank.max()),
        "median_ratio": float(ratio.double().median()),
        "min_ratio": float(ratio.double().min()),
        "fraction_psd": float((eig_min >= -zero).double().mean()),
    }
    return Theorem1Report(eig_min, eig_max, ratio, rank, le, exact.cpu(), num_classes, rtol, floor.cpu(), method,
                          summary)
