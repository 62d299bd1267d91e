"""Thick-restart block Lanczos: ``k`` extreme eigenpairs from products of ``b`` vectors per data pass.

Why block Lanczos and not LOBPCG: at dataset scale a *pass* over the data costs, and one pass computes a
block of ``b`` products (``op.matmat``). Block Lanczos keeps the whole block Krylov space (up to ``ncv``
vectors) and does the Rayleigh-Ritz on all of it, so its block size ``b`` is free of ``k`` (``b = 8`` serves
``k = 20``); LOBPCG's block must hold all ``k`` wanted vectors and it keeps only three blocks of history, so
each of its passes costs ``>= k`` products and it forgets the space Lanczos keeps. A block (rather than one
vector) also finds up to ``b`` copies of an exactly repeated eigenvalue; single-vector Krylov methods see one.

Algorithm (block Krylov-Schur form; Zhou & Saad 2008, Stathopoulos & Wu 2002 for the thick restart):

* The basis ``Q`` (``n x ncv``) is float64 on the operator's device; so are the stored products ``AQ``
  (exactly what ``op.matmat`` returned for each column, cast to float64). Memory: ``2 * ncv * n * 8`` bytes.
* One step: multiply the pending block ``P`` (``n x b``, one ``op.matmat``, one pass), append ``P`` and
  ``AP``, fill the projected matrix ``T = Qᵀ A Q`` with ``Qᵀ (AP)`` (symmetrised), and diagonalise it:
  Ritz values ``θ`` and vectors ``Y = Q S``, whose products ``A Y = (AQ) S`` need no further product.
* Certificates are TRUE residuals ``||A y - θ y||`` computed as ``||(AQ) s - θ Q s||`` from the stored
  products: no products at the end. Rounding: the stored products are ``A`` applied to the basis cast to
  ``op.dtype``, so the recombined residual differs from a freshly computed one by about
  ``eps(op.dtype) * ||A||`` (float32: ``1.2e-7 * ||A||``; measured up to ``3.3 eps ||A||`` on a dense
  float32 matrix of size 1500). A pair whose recombined residual passes the test
  by less than ``ROUNDING_MARGIN * eps(op.dtype) * ||A||_est`` is re-checked with one product of the
  returned vector (one pass for all such pairs, counted in ``num_matvecs``/``num_passes``); for float64
  operators this never triggers in practice.
* Expansion and locking: the next block is the residuals ``A y - θ y`` of the first ``b`` *unconverged*
  Ritz pairs in ``which`` order (wanted pairs first, then the next ones), orthogonalised twice against
  ``Q`` ("twice is enough") and within the block. On a Krylov space these residuals span the same block as
  the classical block-Lanczos recurrence ``(I - QQᵀ) A Q_last`` (they are ``(I - QQᵀ) A Q s``), so this is
  block Lanczos; converged pairs are locked: they stay in the basis through every restart but give no
  expansion direction, so the block is spent on what is not yet converged.
* Rank-deficient blocks: a direction whose norm falls below ``sqrt(eps) *`` its norm before the
  orthogonalisation (linearly dependent, or an invariant subspace reached) is replaced by a random
  vector orthogonal to the basis, so the block keeps its width and the solver cannot stall.
* Thick restart: when the next block would not fit in ``ncv`` columns, keep the ``(ncv + k) // 2`` Ritz
  vectors of the wanted end (as single-vector thick restart does; keeping nearly all of them restarts every
  pass and was measured 1.5-3x slower on clustered spectra), with their products recombined (no products),
  and ``T`` becomes ``diag(θ)``. The pending block is orthogonal to them, as it is to the whole space.
* Warm start: ``v0`` (a vector, a block ``(n, m)`` or a previous :class:`EigenResult`) is the first block,
  topped up with random vectors to ``b`` columns; all ``m`` columns go through one pass.
* Stop: all ``k`` wanted pairs certified (see :mod:`hessianlab.curvature.results` for the criterion), the
  basis spanning the whole space (exact), or ``max_passes``.
"""

from __future__ import annotations

import logging
import math
import time

import torch

from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.results import (
    EigenResult, check_solver_args, default_floor, make_result, recheck_near_bound, sort_order,
)
from hessianlab.curvature.warm_start import StartVectors, start_block
from hessianlab.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 8
"""Vectors per pass of the block solvers (and of block trace/density probes). A block product's cost per
vector falls until b = 16 and by under 10 % after it (LeNet-5, bench/results/bench_hvp_block_cpu.json: 2.88 /
2.20 / 1.91 / 1.84 gradient passes per vector at b = 1 / 4 / 16 / 32), but block Lanczos spends more products
as b grows (top-20 in bench_eigs_pyhessian's block rows: 29 passes / 225 products at b = 8, 22 passes / up to
352 products at b = 16), so 8 is the default; pass ``block_size=16`` to trade products for
passes."""
_DEPENDENT = math.sqrt(torch.finfo(torch.float64).eps)


def gram(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``A.T @ B`` for tall ``A`` (n, s) and ``B`` (n, c): the inner products of their columns, ``(s, c)``.

    Computed as ``(B.T @ A).T`` when ``s > c``: on CPU, MKL's transposed-times-plain product that reduces over
    the long dimension ran 3-7x slower for a wide ``A`` than the same product with the operands swapped
    (n = 2e6, s = 40-100, c = 8, float64, one thread) and faster when ``s <= c``.
    """
    return (B.T @ A).T if A.shape[1] > B.shape[1] else A.T @ B


def _project_out(basis: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Remove the span of ``basis`` (n, s) from every column of ``G`` (n, c), twice, as block products.

    Two matrix-matrix passes read the basis four times for the whole group; projecting column by column read
    it four times per column, which dominated a block step on models with millions of parameters.
    """
    for _ in range(2):
        G = G - basis @ gram(basis, G)
    return G


def orthonormal_block(
    basis: torch.Tensor, D: torch.Tensor, width: int, gen: torch.Generator
) -> tuple[torch.Tensor, int]:
    """``width`` orthonormal columns orthogonal to ``basis`` (n, s), taken from the columns of ``D`` (n, c)
    in order; dependent columns are dropped and the block is filled with random vectors.

    Columns are projected against ``basis`` in groups of the number still needed (one block projection per
    group), then against the columns already accepted, one at a time. A column is dependent when under
    ``sqrt(eps)`` of its norm survives both projections.

    Returns ``(P, dropped)``: ``P`` (n, width) float64 and the number of columns of ``D`` dropped as dependent.
    """
    n = basis.shape[0]
    cols: list[torch.Tensor] = []
    dropped, j, draws = 0, 0, 0
    while len(cols) < width:
        need = width - len(cols)
        given = j < D.shape[1]
        if given:
            G, j = D[:, j:j + need], j + need
        else:
            draws += need
            if draws > 5 * width + 10:
                raise RuntimeError("could not draw vectors orthogonal to the Krylov basis")
            G = torch.stack([torch.randn(n, generator=gen, dtype=torch.float64) for _ in range(need)], dim=1)
            G = G.to(basis.device)
        before = torch.linalg.vector_norm(G, dim=0).tolist()
        G = _project_out(basis, G)
        for i in range(G.shape[1]):
            d = G[:, i]
            if cols:
                C = torch.stack(cols, dim=1)
                for _ in range(2):
                    d = d - C @ (C.T @ d)
            after = float(torch.linalg.vector_norm(d))
            if before[i] > 0 and after > _DEPENDENT * before[i]:
                cols.append(d / after)
            elif given:
                dropped += 1
    return torch.stack(cols, dim=1) if cols else basis[:, :0], dropped


def _all_wanted(ok: torch.Tensor, k: int) -> bool:
    """Whether the ``k`` wanted pairs exist (the basis holds ``>= k`` vectors) and all pass the test."""
    return ok.numel() >= k and bool(ok[:k].all())


def block_lanczos(
    op: LinearOperator,
    k: int = 1,
    *,
    which: str = "LA",
    tol: float = 1e-4,
    block_size: int | None = None,
    ncv: int | None = None,
    max_passes: int | None = None,
    seed: int = 0,
    v0: StartVectors | None = None,
    floor: float | None = None,
) -> EigenResult:
    """The ``k`` extreme eigenpairs of the symmetric operator ``op`` by thick-restart block Lanczos.

    Args:
        op: any :class:`LinearOperator` of size ``n``; its ``matmat`` should compute a block in one pass.
        k: number of eigenpairs, ``1 <= k <= n``.
        which: ``"LA"`` largest algebraic, ``"SA"`` smallest algebraic, ``"LM"`` largest magnitude.
        tol: relative residual tolerance, ``||A v - λ v|| <= tol * max(|λ|, floor)`` for every pair.
        block_size: vectors per pass ``b`` (default :data:`DEFAULT_BLOCK_SIZE`, capped at ``n``).
        ncv: basis size, default ``min(n, k + 10b)`` (100 for k = 20, b = 8); at least ``k + b`` (or ``n``).
            On a spectrum whose top 20 merge into a continuum, ``k + 4b`` (60) needed 1.6x the passes of
            ``k + 10b`` (measured on a 2000 x 2000 test matrix); memory is ``2 * ncv * n * 8`` bytes.
        max_passes: budget of expansion passes (verification passes come on top), default ``max(100, 1000 // b)``.
        seed: seeds the random start and fill vectors (CPU generator, device independent).
        v0: warm start: a vector ``(n,)``, a block ``(n, m)`` or a previous :class:`EigenResult`.
        floor: absolute eigenvalue floor; default ``eps(op.dtype)**(1/3) * max |Ritz value|``.

    Returns:
        :class:`EigenResult` with ``method="block_lanczos"``, ``block_size=b``, ``num_passes``; ``info`` holds
        ``ncv``, ``restarts``, ``residual_checks`` (verification passes), ``dropped`` (dependent directions
        replaced), ``exhausted``, ``warm_start`` (columns of ``v0``) and ``seed``.
    """
    n = op.size
    check_solver_args(n, k, which, tol)
    b = DEFAULT_BLOCK_SIZE if block_size is None else int(block_size)
    if b < 1:
        raise ConfigError(f"block_size must be >= 1, got {block_size}")
    b = min(b, n)
    start = start_block(v0, n)
    m0 = 0 if start is None else start.shape[1]
    m = min(n, ncv if ncv is not None else k + 10 * b)
    if m < min(n, k + b):
        raise ConfigError(f"ncv must be at least k + block_size = {k + b} (got {ncv}); raise ncv")
    if m0 > m:
        raise ConfigError(f"v0 has {m0} columns but the basis holds ncv={m}; pass fewer vectors or a larger ncv")
    max_passes = max(100, 1000 // b) if max_passes is None else int(max_passes)
    if max_passes < 1:
        raise ConfigError(f"max_passes must be >= 1, got {max_passes}")

    t0 = time.perf_counter()
    mv_before, passes_before = op.num_matvecs, op.num_passes
    gen = torch.Generator().manual_seed(seed)
    dev = op.device
    Q = torch.zeros(n, m, dtype=torch.float64, device=dev)
    AQ = torch.zeros(n, m, dtype=torch.float64, device=dev)
    T = torch.zeros(m, m, dtype=torch.float64)
    first = torch.zeros(n, 0, dtype=torch.float64) if start is None else start
    P, dropped = orthonormal_block(Q[:, :0], first.to(dev), min(m, max(b, m0)), gen)
    size, passes, restarts, checks = 0, 0, 0, 0
    anorm = 0.0
    while True:
        c = P.shape[1]
        AP = op.matmat(P.to(op.dtype)).to(torch.float64)
        passes += 1
        Q[:, size:size + c], AQ[:, size:size + c] = P, AP
        new = gram(Q[:, :size + c], AP).cpu()
        T[:size + c, size:size + c] = new
        T[size:size + c, :size + c] = new.T
        T[size:size + c, size:size + c] = (new[size:] + new[size:].T) / 2
        size += c
        theta, S = torch.linalg.eigh(T[:size, :size])
        sel = sort_order(theta, which)[: min(size, k + b)]
        Ssel = S[:, sel].to(dev)
        Y, lam = Q[:, :size] @ Ssel, theta[sel]
        R = AQ[:, :size] @ Ssel - Y * lam.to(dev)
        res = torch.linalg.vector_norm(R, dim=0).cpu()
        anorm = max(anorm, float(theta.abs().max()))
        fl = floor if floor is not None else default_floor(op.dtype, anorm)
        bound = tol * torch.clamp(lam.abs(), min=fl)
        ok = res <= bound
        exhausted, out_of_budget = size >= n, passes >= max_passes
        if _all_wanted(ok, k) or exhausted or out_of_budget:
            if not exhausted:
                checks += recheck_near_bound(op, Y[:, :k], lam[:k], res[:k], bound[:k], anorm)
                ok = res <= bound
            if _all_wanted(ok, k) or exhausted or out_of_budget:
                break
            log.debug("block lanczos: %d recombined residuals failed the product check", int((~ok[:k]).sum()))
        width = min(b, n - size)
        if size + width > m:  # thick restart: keep the wanted end, products recombined
            keep = sort_order(theta, which)[: min(m - width, max(k, (m + k) // 2))]
            Sk = S[:, keep].to(dev)
            l = keep.numel()
            Q[:, :l], AQ[:, :l] = Q[:, :size] @ Sk, AQ[:, :size] @ Sk
            T.zero_()
            T[:l, :l] = torch.diag(theta[keep])
            size, restarts = l, restarts + 1
        P, lost = orthonormal_block(Q[:, :size], R[:, (~ok).nonzero().flatten().to(dev)], width, gen)
        dropped += lost
    return make_result(
        op,
        eigenvalues=lam[:k],
        eigenvectors=Y[:, :k],
        residuals=res[:k],
        tol=tol,
        floor=fl,
        which=which,
        method="block_lanczos",
        matvecs_before=mv_before,
        passes_before=passes_before,
        iterations=passes,
        seconds=time.perf_counter() - t0,
        block_size=b,
        info={"ncv": m, "restarts": restarts, "residual_checks": checks, "dropped": dropped,
              "exhausted": exhausted, "warm_start": m0, "seed": seed},
    )
