"""Front door for eigenpairs: ``top_eigenpairs(op, k=20)`` picks the solver.

Methods:

* ``"lanczos"`` (default): single-vector thick-restart Lanczos, ``which`` in ``{"LA", "SA", "LM"}``.
* ``"block"``: thick-restart block Lanczos (:func:`~hessianlab.curvature.block_lanczos.block_lanczos`), ``b``
  products per data pass; finds up to ``b`` copies of a repeated eigenvalue.
* ``"power"``: deflated power iteration, which always finds the largest-**magnitude** pairs: ``which="LA"``
  is accepted (for Hessians dominated by positive outliers the two coincide) but the result says
  ``which="LM"`` and a warning is logged if a negative eigenvalue is among them; ``which="SA"`` is refused.
* ``"auto"``: ``"block"`` when a block of products is expected to cost much less than as many single
  products (:func:`block_pays`) AND ``k >= AUTO_BLOCK_MIN_K`` (or ``v0`` holds several vectors);
  ``"lanczos"`` otherwise. For top-20 at tol 1e-4 block Lanczos spends 1.4x the products of single-vector
  Lanczos on a spectrum with separated outliers and 2.4-3.6x where the top merges into a continuum (a
  2000 x 2000 test matrix; a small CNN's Hessian: 225 vs 88; LeNet-5 over all 60,000 Fashion-MNIST images:
  208 at b = 16 vs 57), in 3-9x fewer passes, so it wins only where a pass, not the arithmetic, is what costs. That
  is not the case for a dataset operator over in-memory tensors, chunked or not: measured on LeNet-5 over
  Fashion-MNIST (bench/results/eigs_moonshot.json, device_products_cuda.json), a block product of 16 cost 0.8
  of 16 single products per vector on 2 CPU cores (block Lanczos 929 s, 2.9x single-vector Lanczos's 320 s) and
  0.38 on an H200 in chunks of 2,000 (block 21.0 s vs 19.3 s). So ``auto`` takes the block solver for
  operators whose ``matmat`` shares one pass over data that is *streamed* (a loader: a pass reads and
  decodes the data once per block instead of once per vector), for operators without data that implement
  ``matmat`` themselves (a dense matrix: one matrix-matrix product), and for a sharded operator when its
  rank-local operator qualifies; not for in-memory tensors, not for the column loop of the base class
  (:class:`FunctionOperator`), and not for :class:`ParamHessian` on its ``'cached'`` path (one graph
  replay per column). Pass ``method="block"`` to choose it anyway (it also finds repeated eigenvalues).

Warm starts (every method): ``v0`` is a vector ``(n,)``, a block ``(n, m)`` or a previous
:class:`EigenResult` (see :mod:`hessianlab.curvature.warm_start`). Block Lanczos starts from the whole
block; single-vector Lanczos from the sum of its unit columns; power iteration starts pair ``i`` at column
``i``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from hessianlab.curvature.block_lanczos import block_lanczos
from hessianlab.curvature.lanczos import lanczos
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.power import power_iteration
from hessianlab.curvature.results import EigenResult, WHICH
from hessianlab.curvature.warm_start import StartVectors, start_block, start_vector
from hessianlab.errors import ConfigError

log = logging.getLogger(__name__)

METHODS = ("auto", "lanczos", "block", "power")
AUTO_BLOCK_MIN_K = 4


def shares_a_pass(op: LinearOperator) -> bool:
    """Whether ``op.matmat`` computes a block in one pass over the data (so blocks pay off).

    ``False`` for operators that inherit the column loop of :class:`LinearOperator` and for a
    ``ParamHessian`` whose products replay cached per-chunk graphs (one backward per column).
    """
    if type(op).matmat is LinearOperator.matmat:
        return False
    settings = op.settings
    used, chosen = settings.get("hvp_method_used"), settings.get("hvp_method")
    single_chunk = getattr(op, "num_chunks", 2) == 1
    return not (used == "cached" or chosen == "cached" or (chosen == "auto" and used is None and single_chunk))


def block_pays(op: LinearOperator) -> bool:
    """Whether a block eigen-solve is expected to beat single-vector Lanczos on ``op`` (see the module
    docstring): ``op.matmat`` shares a pass (:func:`shares_a_pass`) and the pass is over streamed data (a
    loader), or ``op`` has no data (it implements ``matmat`` itself); a sharded operator is judged by its
    rank-local operator (attribute ``local``)."""
    local = getattr(op, "local", None)
    if isinstance(local, LinearOperator):
        return block_pays(local)
    if not shares_a_pass(op):
        return False
    source = getattr(op, "source", None)
    return source is None or source.kind == "loader"


def choose_method(op: LinearOperator, k: int, v0: StartVectors | None = None) -> str:
    """The method ``"auto"`` resolves to (see the module docstring)."""
    block = start_block(v0, op.size)
    several = block is not None and block.shape[1] > 1
    return "block" if block_pays(op) and (k >= AUTO_BLOCK_MIN_K or several) else "lanczos"


def top_eigenpairs(
    op: LinearOperator,
    k: int = 20,
    *,
    method: str = "lanczos",
    which: str = "LA",
    tol: float = 1e-4,
    v0: StartVectors | None = None,
    **kw: Any,
) -> EigenResult:
    """The ``k`` extreme eigenpairs of ``op`` (see :func:`lanczos`, :func:`block_lanczos` and
    :func:`power_iteration` for ``kw``).

    Args:
        v0: warm start, a vector ``(n,)``, a block ``(n, m)`` or a previous :class:`EigenResult` (e.g. the
            last epoch's solve); the stopping rule is unchanged, so the result equals a cold solve to ``tol``.

    Returns:
        :class:`EigenResult`: eigenvalues ``(k,)`` float64 ordered by ``which``, eigenvectors ``(n, k)``,
        true residuals, ``converged``, ``num_matvecs``, ``num_passes``, ``block_size``, ``seconds``,
        ``operator_settings``; ``info["method_requested"]`` says ``"auto"`` when the method was chosen.
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    if which not in WHICH:
        raise ConfigError(f"which must be one of {WHICH}, got {which!r}")
    chosen = choose_method(op, k, v0) if method == "auto" else method
    if chosen == "block":
        result = block_lanczos(op, k, which=which, tol=tol, v0=v0, **kw)
    elif chosen == "lanczos":
        result = lanczos(op, k, which=which, tol=tol, v0=start_vector(v0, op.size), **kw)
    else:
        if which == "SA":
            raise ConfigError("power iteration finds largest-magnitude eigenvalues; use method='lanczos' for which='SA'")
        result = power_iteration(op, k, tol=tol, v0=start_block(v0, op.size), **kw)
        if which == "LA" and bool((result.eigenvalues < 0).any()):
            log.warning("power iteration returned negative eigenvalues for which='LA' (it finds largest |λ|); "
                        "use method='lanczos' for the largest algebraic eigenvalues")
    return replace(result, info={**result.info, "method_requested": "auto"}) if method == "auto" else result
