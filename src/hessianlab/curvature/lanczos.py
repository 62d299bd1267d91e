"""Thick-restart Lanczos for a few extreme eigenpairs of a symmetric operator (the default solver).

Algorithm (Wu & Simon 2000, thick restart; Parlett, "The Symmetric Eigenvalue Problem"):

* The Krylov basis ``V`` (``ncv + 1`` rows of length ``n``) is float64 on the operator's device whatever the
  operator's dtype: vectors are cast to ``op.dtype`` for each product and the product back to float64.
* Every new vector is orthogonalised against the whole basis twice (classical Gram-Schmidt, "twice is
  enough"); the projected matrix ``T = Vᵀ A V`` is filled from those projections, so after a restart it is
  the usual arrowhead-plus-tridiagonal matrix without special cases.
* Stored products: the product ``A v_j`` of every basis vector is kept (float64, exactly what the operator
  returned for ``v_j`` cast to ``op.dtype``), and recombined at restarts like the basis. Memory: twice the
  basis, ``2 (ncv + 1) n 8`` bytes; kept only while that extra ``ncv n 8`` is at most
  :data:`STORED_PRODUCTS_MAX_BYTES` (``store_products=`` overrides).
* Stopping: all ``k`` wanted Ritz pairs must have Ritz residual estimates ``|β_m e_mᵀ s_i|`` at most
  ``tol * max(|θ_i|, floor)``; then their TRUE residuals ``||A y_i - θ_i y_i||`` decide. With stored
  products they cost no product: ``||(AV) s_i - θ_i V s_i||``, as block Lanczos certifies, where a pair
  within :data:`~hessianlab.curvature.results.ROUNDING_MARGIN` of the test (the recombination's rounding) is
  re-checked by a fresh product; without, one ``op.matmat`` of the ``k`` vectors (``k`` products, counted).
  For top-20 this saved the 20 products of the final check: 59 + 20 products became 59 (LeNet-5 over 6,000
  Fashion-MNIST images, tol 1e-4). If a true residual fails, iteration continues.
* The Ritz test runs after every step once the basis holds ``max(2k, k + 10)`` vectors (``T`` is tiny,
  so this costs no products), not only at the end of a restart cycle; after an invariant-subspace breakdown
  it runs at cycle ends only (an exact but non-extreme block must not stop the solver early). With a warm
  start (``v0`` given, e.g. the previous solve's vector when tracking λ1) it runs from ``k + 2`` vectors:
  the caller vouches for the start, and a start already near the wanted pair stops in a few products
  (a cold random start waits, so a small Krylov space cannot stop at a non-extreme pair).
* Restart: keep ``(ncv + k) // 2`` Ritz vectors from the wanted end of the spectrum plus the next Lanczos
  vector, and expand again.
* Breakdown (``β <= sqrt(eps) * ||A v_j||``, an invariant subspace): continue with a random vector
  orthogonal to the basis. When the basis spans the whole space (``n`` vectors) the Ritz pairs are exact and
  the solver stops.

Single-vector Krylov methods see one direction of an exactly repeated eigenvalue; tight clusters are found
as rounding and restarts feed the other directions in, but slowly.
"""

from __future__ import annotations

import logging
import math
import time

import torch

from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.results import (
    EigenResult, check_solver_args, default_floor, make_result, matmat64, matvec64, recheck_near_bound,
    residual_norms,
)
from hessianlab.errors import ConfigError

log = logging.getLogger(__name__)

_BREAKDOWN = math.sqrt(torch.finfo(torch.float64).eps)
_LOCAL = 2
_DGKS = 1 / math.sqrt(2)
_MAX_PASSES = 3
STORED_PRODUCTS_MAX_BYTES = 2 * 1024**3
"""Largest extra memory (``ncv * n * 8`` bytes) the solver spends on stored products by default: 2 GiB holds
them for top-20 (ncv 52) up to n = 5.2 M parameters (M1's 4.0 M included), not for ResNet-18's 11 M."""


def _start_vector(op: LinearOperator, v0: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
    v = torch.randn(op.size, generator=gen, dtype=torch.float64) if v0 is None else v0.detach().double().cpu()
    if v.shape != (op.size,):
        raise ConfigError(f"v0 must have shape ({op.size},), got {tuple(v.shape)}; pass a flat vector")
    nrm = torch.linalg.vector_norm(v)
    if not torch.isfinite(nrm) or nrm == 0:
        raise ConfigError("v0 must be a finite non-zero vector; pass another start vector or v0=None")
    return (v / nrm).to(op.device)


def _orthogonalise(basis: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove the span of the rows of ``basis`` (j, n) from ``w`` (n,); return ``(w, coefficients)`` ``(j,)``.

    The last :data:`_LOCAL` rows go first, one at a time (modified Gram-Schmidt, ``O(n)`` each): they hold
    the three-term recurrence's large components. Then classical Gram-Schmidt over all rows, repeated only
    while a pass shrinks ``w`` below ``1/sqrt(2)`` of its norm (the Daniel-Gragg-Kaufman-Stewart criterion),
    which keeps ``w`` orthogonal to working precision. A regular Lanczos step reads the basis twice instead of
    four times (two unconditional passes); for large models (n in the millions) the basis traffic, not the
    product, dominated a step.
    """
    h = torch.zeros(basis.shape[0], dtype=basis.dtype, device=basis.device)
    for i in range(basis.shape[0] - 1, max(basis.shape[0] - 1 - _LOCAL, -1), -1):
        c = basis[i] @ w
        w = w - c * basis[i]
        h[i] += c
    for _ in range(_MAX_PASSES):
        before = torch.linalg.vector_norm(w)
        c = basis @ w
        w = w - basis.T @ c
        h += c
        if torch.linalg.vector_norm(w) > _DGKS * before:
            break
    return w, h


def _random_orthogonal(basis: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A unit vector orthogonal to the rows of ``basis`` (j, n), j < n."""
    for _ in range(5):
        r = torch.randn(basis.shape[1], generator=gen, dtype=torch.float64).to(basis.device)
        r, _ = _orthogonalise(basis, r)
        nrm = torch.linalg.vector_norm(r)
        if nrm > 1e-8:
            return r / nrm
    raise RuntimeError("could not draw a vector orthogonal to the Krylov basis")


def _wanted(theta: torch.Tensor, which: str, count: int) -> torch.Tensor:
    """Indices of the ``count`` Ritz values at the wanted end, in ``which`` order."""
    if which == "LA":
        order = torch.argsort(theta, descending=True)
    elif which == "SA":
        order = torch.argsort(theta)
    else:
        order = torch.argsort(theta.abs(), descending=True)
    return order[:count]


def lanczos(
    op: LinearOperator,
    k: int = 1,
    *,
    which: str = "LA",
    tol: float = 1e-4,
    max_iter: int | None = None,
    ncv: int | None = None,
    seed: int = 0,
    v0: torch.Tensor | None = None,
    floor: float | None = None,
    store_products: bool | None = None,
) -> EigenResult:
    """The ``k`` extreme eigenpairs of the symmetric operator ``op`` by thick-restart Lanczos.

    Args:
        op: any :class:`LinearOperator` of size ``n``.
        k: number of eigenpairs, ``1 <= k <= n``.
        which: ``"LA"`` largest algebraic, ``"SA"`` smallest algebraic (most negative curvature),
            ``"LM"`` largest magnitude.
        tol: relative residual tolerance, ``||A v - λ v|| <= tol * max(|λ|, floor)`` for every pair.
        max_iter: budget of Krylov steps (products spent on expansion; residual checks come on top).
            Default ``max(1000, 20 * ncv)``.
        ncv: Krylov basis size, default ``min(n, max(2k + 1, k + 32))``.
        seed: seeds the start vector and breakdown restarts (CPU generator, device independent).
        v0: start vector ``(n,)`` instead of a random one.
        floor: absolute eigenvalue floor; default ``eps(op.dtype)**(1/3) * max |Ritz value|``.
        store_products: keep every basis vector's product to certify without products (see the module
            docstring); default: when ``ncv * n * 8`` bytes is at most :data:`STORED_PRODUCTS_MAX_BYTES`.

    Returns:
        :class:`EigenResult` with ``method="lanczos"``; ``info`` holds ``ncv``, ``restarts``,
        ``residual_checks`` (product passes spent on certificates), ``stored_products``, ``exhausted`` and
        ``seed``.
    """
    n = op.size
    check_solver_args(n, k, which, tol)
    m = min(n, ncv if ncv is not None else max(2 * k + 1, k + 32))
    if m <= k and m < n:
        raise ConfigError(f"ncv must exceed k (got ncv={ncv}, k={k}); use ncv >= 2k + 1")
    max_iter = max(1000, 20 * m) if max_iter is None else int(max_iter)
    if max_iter < k:
        raise ConfigError(f"max_iter must be at least k={k}, got {max_iter}")

    t0 = time.perf_counter()
    mv_before, passes_before = op.num_matvecs, op.num_passes
    gen = torch.Generator().manual_seed(seed)
    V = torch.zeros(m + 1, n, dtype=torch.float64, device=op.device)
    store = m * n * 8 <= STORED_PRODUCTS_MAX_BYTES if store_products is None else bool(store_products)
    AV = torch.zeros(m, n, dtype=torch.float64, device=op.device) if store else None
    T = torch.zeros(m, m, dtype=torch.float64)
    V[0] = _start_vector(op, v0, gen)
    size, beta, steps, restarts, checks = 0, 0.0, 0, 0, 0
    anorm = 0.0
    exhausted = broke_down = False
    min_early = min(m, max(2 * k, k + 10) if v0 is None else k + 2)

    def ritz(size: int, beta: float):
        theta, S = torch.linalg.eigh(T[:size, :size])
        norm = max(anorm, float(theta.abs().max()))
        fl = floor if floor is not None else default_floor(op.dtype, norm)
        idx = _wanted(theta, which, k)
        estimates = abs(beta) * S[size - 1, idx].abs()
        ok = bool((estimates <= tol * torch.clamp(theta[idx].abs(), min=fl)).all())
        return theta, S, norm, fl, idx, ok

    while True:
        end = min(m, size + max(max_iter - steps, 0))
        while size < end:
            j = size
            w = matvec64(op, V[j])
            if AV is not None:
                AV[j] = w
            steps += 1
            wnorm = float(torch.linalg.vector_norm(w))
            w, h = _orthogonalise(V[: j + 1], w)
            h = h.cpu()
            T[: j + 1, j] = h
            T[j, : j + 1] = h
            beta = float(torch.linalg.vector_norm(w))
            anorm = max(anorm, wnorm)
            size += 1
            if size == n:
                exhausted, beta = True, 0.0
                break
            if beta <= _BREAKDOWN * max(wnorm, anorm, 1e-300):
                log.debug("lanczos: invariant subspace after %d vectors (beta=%.3e); random restart", size, beta)
                V[size] = _random_orthogonal(V[:size], gen)
                beta, broke_down = 0.0, True
            else:
                V[size] = w / beta
            if not broke_down and min_early <= size < end and ritz(size, beta)[-1]:
                break
        theta, S, anorm, fl, idx, ritz_ok = ritz(size, beta)
        out_of_budget = steps >= max_iter
        if ritz_ok or exhausted or out_of_budget:
            Sw, lam = S[:, idx].to(V.device), theta[idx]
            bound = tol * torch.clamp(lam.abs(), min=fl)
            Y64 = V[:size].T @ Sw
            Y = Y64.to(op.dtype)
            if AV is None:
                res = residual_norms(op, Y, lam)
                checks += 1
            else:
                res = torch.linalg.vector_norm(AV[:size].T @ Sw - Y64 * lam.to(V.device), dim=0).cpu()
                if not exhausted:
                    checks += recheck_near_bound(op, Y, lam, res, bound, anorm)
            true_ok = bool((res <= bound).all())
            if true_ok or exhausted or out_of_budget:
                break
            log.debug("lanczos: Ritz estimates converged but true residuals did not (max %.3e)", float(res.max()))
        # thick restart: keep the wanted end of the spectrum and the next Lanczos vector
        keep = _wanted(theta, which, min(m - 1, max(k, (m + k) // 2)))
        nxt = V[size].clone()
        l = keep.numel()
        V[:l] = (S[:, keep].T.to(V.device) @ V[:size])
        if AV is not None:
            AV[:l] = S[:, keep].T.to(V.device) @ AV[:size]
        V[l] = nxt
        T.zero_()
        T[:l, :l] = torch.diag(theta[keep])
        size = l
        restarts += 1
    return make_result(
        op,
        eigenvalues=theta[idx],
        eigenvectors=Y,
        residuals=res,
        tol=tol,
        floor=fl,
        which=which,
        method="lanczos",
        matvecs_before=mv_before,
        passes_before=passes_before,
        iterations=steps,
        seconds=time.perf_counter() - t0,
        info={"ncv": m, "restarts": restarts, "residual_checks": checks, "stored_products": store,
              "exhausted": exhausted, "seed": seed},
    )


def lanczos_tridiagonal(
    op: LinearOperator, v: torch.Tensor, num_steps: int, *, reorthogonalise: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain Lanczos from the unit vector ``v`` (n,): the tridiagonal ``T`` as ``(alpha, beta)``.

    One column of :func:`lanczos_tridiagonals`; costs ``s <= num_steps`` products (``matvec``).
    """
    return lanczos_tridiagonals(op, v[:, None], num_steps, reorthogonalise=reorthogonalise)[0]


def lanczos_tridiagonals(
    op: LinearOperator, V: torch.Tensor, num_steps: int, *, reorthogonalise: bool = True
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Independent plain Lanczos runs from the columns of ``V`` (n, p), sharing one product pass per step.

    Each step multiplies the still active columns with one ``op.matmat`` (one ``matvec`` when a single
    column is active), so ``p`` runs of ``s`` steps cost ``s`` passes instead of ``p * s``. The runs never
    mix: each column's recurrence, and so its ``T``, is the one a separate run gives (to product rounding).

    Returns per column ``alpha`` (s,) and ``beta`` (s - 1,) in float64 on the CPU, ``s <= num_steps``; fewer
    steps when that column's Krylov space becomes invariant (then its Gauss quadrature is exact). With
    ``reorthogonalise`` (default) each run keeps its float64 basis (``p * s`` vectors of length ``n`` in
    all) and orthogonalises every vector against it twice.
    """
    s_max = min(int(num_steps), op.size)
    V = V.to(torch.float64).to(op.device)
    cur = V / torch.linalg.vector_norm(V, dim=0)
    prev = torch.zeros_like(cur)
    p = V.shape[1]
    bases: list[list[torch.Tensor]] = [[cur[:, i].clone()] for i in range(p)]
    alphas: list[list[float]] = [[] for _ in range(p)]
    betas: list[list[float]] = [[] for _ in range(p)]
    last_beta = [0.0] * p
    active = list(range(p))
    for j in range(s_max):
        W = matmat64(op, cur[:, active])
        still = []
        for col, i in enumerate(active):
            w, v = W[:, col], cur[:, i]
            wnorm = float(torch.linalg.vector_norm(w))
            alphas[i].append(float(v @ w))
            if reorthogonalise:
                w, _ = _orthogonalise(torch.stack(bases[i]), w)
            else:
                w = w - alphas[i][-1] * v - last_beta[i] * prev[:, i]
            beta = float(torch.linalg.vector_norm(w))
            if j == s_max - 1 or beta <= _BREAKDOWN * max(wnorm, 1e-300):
                continue
            betas[i].append(beta)
            last_beta[i] = beta
            prev[:, i], cur[:, i] = v, w / beta
            if reorthogonalise:
                bases[i].append(cur[:, i].clone())
            still.append(i)
        active = still
        if not active:
            break
    return [(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
            for a, b in zip(alphas, betas)]
