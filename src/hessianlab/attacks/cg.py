"""Batched conjugate gradients: solve ``(A_i + μI) d_i = b_i`` for every sample ``i`` at once.

``matvec(V, active)`` maps a batch ``(N, *shape)`` to ``(A_1 v_1, ..., A_N v_N)`` (a block-diagonal
operator, e.g. the per-sample input Hessians of a model in eval mode); only the rows where the bool mask
``active`` ``(N,)`` is set are used, so an operator may skip the others. Each sample has its own step
``α_i`` and ``β_i``; all arithmetic is vectorised over the batch. ``matvecs`` counts calls; the products
per sample are ``CGResult.iterations`` (plus one for a sample stopped by negative curvature). A sample stops when its relative residual ``|r_i| / |b_i| <= tol``, or when CG meets
non-positive curvature ``p_iᵀ(A_i + μI)p_i <= 0`` (``A_i`` not PSD, e.g. softplus/ELU networks): it
then keeps its current iterate, or ``b_i`` itself if that happens at the first iteration (for an
input-Hessian solve: the gradient direction). ``b_i = 0`` gives ``d_i = 0``, converged at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["CGResult", "MaskedMatvec", "batched_cg"]

#: ``matvec(V, active) -> A V`` on a batch; rows outside the bool mask ``active`` may be arbitrary
MaskedMatvec = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class CGResult:
    """Outcome of :func:`batched_cg`.

    Attributes:
        solution: ``(N, *shape)`` the iterates ``d_i``.
        iterations: ``(N,)`` int64, CG updates applied to each sample.
        converged: ``(N,)`` bool, relative residual reached ``tol``.
        relative_residual: ``(N,)`` ``|b_i - (A_i + μI) d_i| / |b_i|`` as tracked by CG (0 where ``b_i = 0``).
        negative_curvature: ``(N,)`` bool, stopped on ``pᵀ(A + μI)p <= 0``.
        matvecs: calls of ``matvec`` (batched products, each over the then-active samples).
    """

    solution: torch.Tensor
    iterations: torch.Tensor
    converged: torch.Tensor
    relative_residual: torch.Tensor
    negative_curvature: torch.Tensor
    matvecs: int


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample inner product ``(N,)`` of two batches ``(N, ...)``."""
    return (a.flatten(1) * b.flatten(1)).sum(dim=1)


def batched_cg(
    matvec: MaskedMatvec,
    b: torch.Tensor,
    *,
    shift: float = 0.0,
    max_iters: int = 20,
    tol: float = 1e-3,
) -> CGResult:
    """Solve ``(A_i + shift·I) d_i = b_i`` per sample by CG from ``d_i = 0`` (see module docstring)."""
    col = (-1,) + (1,) * (b.dim() - 1)
    d = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rs = _dot(r, r)
    b_norm = rs.sqrt()
    converged = b_norm == 0
    active = ~converged
    negative = torch.zeros_like(active)
    iterations = torch.zeros(b.shape[0], dtype=torch.int64, device=b.device)
    matvecs = 0
    for k in range(max_iters):
        if not bool(active.any()):
            break
        ap = matvec(p, active).add_(p, alpha=shift)
        matvecs += 1
        p_ap = _dot(p, ap)
        hit = active & (p_ap <= 0)
        if k == 0:
            d = torch.where(hit.view(col), b, d)
        negative |= hit
        active &= ~hit
        alpha = torch.where(active, rs / torch.where(active, p_ap, 1.0), 0.0)
        d.add_(alpha.view(col) * p)
        r.sub_(alpha.view(col) * ap)
        rs_new = _dot(r, r)
        iterations += active.long()
        done = active & (rs_new.sqrt() <= tol * b_norm)
        converged |= done
        active &= ~done
        beta = torch.where(active, rs_new / torch.where(rs > 0, rs, 1.0), 0.0)
        p = r + beta.view(col) * p
        rs = torch.where(active, rs_new, rs)
    relative = _dot(r, r).sqrt() / torch.where(b_norm > 0, b_norm, 1.0)
    return CGResult(d, iterations, converged, relative, negative, matvecs)
