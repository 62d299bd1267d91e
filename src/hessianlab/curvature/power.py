"""Power iteration with deflation, as in PyHessian (Yao et al. 2020), with a sound stopping rule.

For each of the ``k`` pairs, the iterate is orthogonalised against the eigenvectors already found
(Hotelling deflation by projection, as PyHessian does), multiplied by ``A`` and normalised. The method
therefore finds eigenvalues of largest **magnitude** (``which="LM"``), one after another; for a Hessian
whose positive outliers dominate these are the top eigenvalues.

Stopping (per pair, after at least two products): BOTH the relative eigenvalue change
``|λ_t - λ_{t-1}| / max(|λ_t|, floor)`` AND the relative residual of the deflated problem
``||(I - QQᵀ)(A v - λ v)|| / max(|λ|, floor)`` (``Q``: eigenvectors already found) are at most ``tol``.
PyHessian stops on the eigenvalue change alone, which can stop early at a wrong eigenvector.

Deflation by projection passes each pair's error on to the next (the ``i``-th iterate is only orthogonal to
the *approximate* earlier vectors), so the true residual of a later pair stalls near the earlier pairs'
residuals. A final Rayleigh-Ritz step on the span of the ``k`` vectors found removes that coupling:
``k`` more products give ``A V``, the ``k x k`` projection is diagonalised, and the true residuals
``||A y - θ y||`` of the returned pairs follow without further products. Iterates are float64 (cast to
``op.dtype`` for each product). If ``λ`` and ``-λ`` are both extreme, the iteration does not converge (the
residual test reports it); use :func:`hessianlab.curvature.lanczos.lanczos` then.
"""

from __future__ import annotations

import logging
import time

import torch

from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.results import EigenResult, default_floor, make_result, matvec64
from hessianlab.errors import ConfigError

log = logging.getLogger(__name__)


def _deflate(v: torch.Tensor, found: list[torch.Tensor]) -> torch.Tensor:
    """Project the found unit vectors out of ``v`` (twice) and normalise."""
    if found:
        Q = torch.stack(found)
        v = v - Q.T @ (Q @ v)
        v = v - Q.T @ (Q @ v)
    return v / torch.linalg.vector_norm(v)


def power_iteration(
    op: LinearOperator,
    k: int = 1,
    *,
    tol: float = 1e-4,
    max_iter: int = 1000,
    seed: int = 0,
    v0: torch.Tensor | None = None,
    floor: float | None = None,
) -> EigenResult:
    """The ``k`` largest-magnitude eigenpairs of ``op`` by deflated power iteration.

    Args:
        op: any :class:`LinearOperator` of size ``n``.
        k: number of eigenpairs, ``1 <= k <= n``.
        tol: tolerance on both the relative eigenvalue change and the relative residual.
        max_iter: maximum products **per eigenpair** (PyHessian's ``maxIter``).
        seed: seeds the random start vectors (CPU generator, device independent).
        v0: start vectors instead of random ones: ``(n,)`` for the first pair, or ``(n, m)`` whose column
            ``i`` starts pair ``i < m`` (a warm start from a previous solve's eigenvectors).
        floor: absolute eigenvalue floor; default ``eps(op.dtype)**(1/3) * max |λ| seen``.

    Returns:
        :class:`EigenResult` with ``method="power"``, ``which="LM"``; ``info["iterations_per_pair"]``.
        ``num_matvecs`` = sum of iterations per pair + ``k`` (the Rayleigh-Ritz products).
    """
    n = op.size
    if not 1 <= k <= n:
        raise ConfigError(f"k must be in [1, {n}] for an operator of size {n}, got {k}")
    if not tol > 0 or max_iter < 1:
        raise ConfigError(f"tol must be positive and max_iter >= 1, got tol={tol}, max_iter={max_iter}")
    starts = torch.zeros(n, 0, dtype=torch.float64) if v0 is None else v0.detach().to(torch.float64).cpu()
    if starts.dim() == 1:
        starts = starts[:, None]
    if starts.dim() != 2 or starts.shape[0] != n:
        raise ConfigError(f"v0 must have shape ({n},) or ({n}, m), got {tuple(v0.shape)}")
    t0 = time.perf_counter()
    mv_before, passes_before = op.num_matvecs, op.num_passes
    gen = torch.Generator().manual_seed(seed)
    found: list[torch.Tensor] = []
    per_pair: list[int] = []
    anorm = 0.0
    for i in range(k):
        if i < starts.shape[1]:
            v = starts[:, i].to(op.device)
        else:
            v = torch.randn(n, generator=gen, dtype=torch.float64).to(op.device)
        lam_prev = None
        lam, res = 0.0, float("inf")
        for it in range(1, max_iter + 1):
            v = _deflate(v, found).to(op.dtype).to(torch.float64)  # representable in op.dtype
            w = matvec64(op, v)
            lam = float(v @ w)
            r = w - lam * v
            if found:
                Q = torch.stack(found)
                r = r - Q.T @ (Q @ r)
            res = float(torch.linalg.vector_norm(r))
            anorm = max(anorm, abs(lam))
            fl = floor if floor is not None else default_floor(op.dtype, anorm)
            scale = max(abs(lam), fl)
            if lam_prev is not None and abs(lam - lam_prev) <= tol * scale and res <= tol * scale:
                break
            lam_prev = lam
            wn = torch.linalg.vector_norm(w)
            if wn == 0:  # v is in the null space: (v, 0) is an exact pair
                break
            if it < max_iter:
                v = w / wn
        per_pair.append(it)
        found.append(v)
        log.debug("power: pair %d lambda=%.6e residual=%.3e after %d products", i, lam, res, it)
    # Rayleigh-Ritz on span(found): k products, exact bookkeeping of the true residuals
    V = torch.stack(found, dim=1).to(op.dtype)
    AV = op.matmat(V).to(torch.float64)
    V64 = V.to(torch.float64)
    H = V64.T @ AV
    theta, S = torch.linalg.eigh((H + H.T) / 2)
    Y, AY = V64 @ S, AV @ S
    residuals = torch.linalg.vector_norm(AY - Y * theta, dim=0)
    anorm = max(anorm, float(theta.abs().max()))
    fl = floor if floor is not None else default_floor(op.dtype, anorm)
    return make_result(
        op,
        eigenvalues=theta,
        eigenvectors=Y,
        residuals=residuals,
        tol=tol,
        floor=fl,
        which="LM",
        method="power",
        matvecs_before=mv_before,
        passes_before=passes_before,
        iterations=sum(per_pair),
        seconds=time.perf_counter() - t0,
        info={"iterations_per_pair": per_pair, "max_iter": max_iter, "seed": seed},
    )
