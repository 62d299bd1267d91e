"""Result of an eigen-solver, and the convergence bookkeeping every solver shares.

Convergence criterion (one definition for every solver): an eigenpair ``(λ, v)`` with ``||v|| = 1`` is
converged when its *true* residual satisfies

    ||A v - λ v|| <= tol * max(|λ|, floor)

i.e. the relative residual ``||A v - λ v|| / max(|λ|, floor)`` is at most ``tol``. The ``floor`` keeps
eigenvalues near zero from demanding an impossible absolute accuracy. Unless the caller passes one, it is

    floor = eps(op.dtype) ** (1/3) * ||A||_est

where ``||A||_est`` is the largest ``|λ|`` the solver has seen (a lower bound of the spectral radius):
``6.1e-6 * ||A||_est`` for float64 operators and ``4.9e-3 * ||A||_est`` for float32 ones, whose products
carry rounding noise of order ``1e-7 * ||A||``. ``floor`` is recorded in the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from hessianlab.curvature.operator import LinearOperator
from hessianlab.errors import ConfigError
from hessianlab.friendly import friendly_result

WHICH = ("LA", "SA", "LM")


def check_solver_args(n: int, k: int, which: str, tol: float) -> None:
    """Raise :class:`ConfigError` for an impossible ``which``, ``k`` (outside ``[1, n]``) or ``tol``."""
    if which not in WHICH:
        raise ConfigError(f"which must be one of {WHICH}, got {which!r}")
    if not 1 <= k <= n:
        raise ConfigError(f"k must be in [1, {n}] for an operator of size {n}, got {k}")
    if not tol > 0:
        raise ConfigError(f"tol must be positive, got {tol}")


def default_floor(dtype: torch.dtype, norm_estimate: float) -> float:
    """The default eigenvalue floor ``eps(dtype)**(1/3) * norm_estimate`` (never below 1e-300)."""
    return max(torch.finfo(dtype).eps ** (1.0 / 3.0) * float(norm_estimate), 1e-300)


ROUNDING_MARGIN = 8.0
"""A residual recombined from stored products (``(AV) s - θ V s``) differs from a fresh product of the
returned vector by about ``eps(op.dtype) * ||A||`` (measured up to ``3.3 eps ||A||`` on a dense float32
matrix of size 1500); the solvers re-check, with one fresh product, every pair that passes its test by less
than ``ROUNDING_MARGIN * eps(op.dtype) * ||A||_est``."""


def recheck_near_bound(op: LinearOperator, vectors: torch.Tensor, eigenvalues: torch.Tensor, res: torch.Tensor,
                       bound: torch.Tensor, norm_estimate: float) -> int:
    """Replace, in place, the recombined residuals ``res`` ``(k,)`` (CPU) that pass ``bound`` by less than
    ``ROUNDING_MARGIN * eps(op.dtype) * norm_estimate`` with true residuals of ``vectors`` ``(n, k)`` from one
    ``op.matmat`` of those columns; returns the product passes spent (0 or 1)."""
    eps = torch.finfo(op.dtype).eps
    border = ((res <= bound) & (res + ROUNDING_MARGIN * eps * norm_estimate > bound)).nonzero().flatten()
    if not border.numel():
        return 0
    res[border] = residual_norms(op, vectors[:, border.to(vectors.device)], eigenvalues[border])
    return 1


def matvec64(op: LinearOperator, x: torch.Tensor) -> torch.Tensor:
    """``A x`` for a float64 vector ``x`` of shape ``(n,)``: cast to ``op.dtype``, multiply, back to float64."""
    return op.matvec(x.to(op.dtype)).to(torch.float64)


def matmat64(op: LinearOperator, X: torch.Tensor) -> torch.Tensor:
    """``A X`` for a float64 block ``X`` ``(n, c)``: one ``matvec`` when ``c == 1``, else one ``matmat``."""
    if X.shape[1] == 1:
        return matvec64(op, X[:, 0])[:, None]
    return op.matmat(X.to(op.dtype)).to(torch.float64)


def residual_norms(op: LinearOperator, vectors: torch.Tensor, eigenvalues: torch.Tensor) -> torch.Tensor:
    """True residuals ``||A v_i - λ_i v_i||`` for the columns of ``vectors`` (n, k); one ``op.matmat``.

    Costs ``k`` products (counted by the operator). The vectors are used exactly as given (in ``op.dtype``);
    the arithmetic of the difference is float64. Returns a float64 tensor of shape ``(k,)`` on the CPU.
    """
    if vectors.shape[1] == 0:
        return torch.zeros(0, dtype=torch.float64)
    av = op.matmat(vectors.to(op.dtype)).to(torch.float64)
    lam = eigenvalues.to(torch.float64).to(av.device)
    res = av - vectors.to(torch.float64).to(av.device) * lam[None, :]
    return torch.linalg.vector_norm(res, dim=0).cpu()


def sort_order(values: torch.Tensor, which: str) -> torch.Tensor:
    """Indices ordering ``values`` as ``which`` wants them first: LA descending, SA ascending, LM by |λ| desc."""
    if which == "LA":
        return torch.argsort(values, descending=True, stable=True)
    if which == "SA":
        return torch.argsort(values, stable=True)
    if which == "LM":
        return torch.argsort(values.abs(), descending=True, stable=True)
    raise ValueError(f"which must be one of {WHICH}, got {which!r}")


@friendly_result
@dataclass(frozen=True)
class EigenResult:
    """Eigenpairs of a symmetric operator with their convergence evidence.

    Attributes:
        eigenvalues: ``(k,)`` float64 on the CPU, ordered as ``which`` asks (LA: descending, SA: ascending,
            LM: descending magnitude).
        eigenvectors: ``(n, k)`` unit columns in the operator's dtype and device.
        residual_norms: ``(k,)`` float64, true residuals ``||A v - λ v||`` of the returned pairs.
        relative_residuals: ``(k,)`` float64, ``residual_norms / max(|λ|, floor)``.
        converged: every relative residual is ``<= tol``.
        num_matvecs: products the solver spent (delta of ``op.num_matvecs``), residual checks included.
        num_passes: passes over the operator's data the solver spent (delta of ``op.num_passes``): a
            ``matvec`` is one pass, a batched ``matmat`` of a block is one pass. At full-dataset scale this,
            not ``num_matvecs``, is what costs.
        block_size: vectors per expansion step (``1`` for single-vector Lanczos and power iteration).
        iterations: Krylov steps (Lanczos) or power iterations summed over pairs.
        seconds: wall time of the call.
        method: ``"lanczos"`` or ``"power"``.
        which: ``"LA"``, ``"SA"`` or ``"LM"``.
        tol: relative residual tolerance.
        floor: absolute eigenvalue floor in the relative residual (see module docstring).
        operator_settings: copy of ``op.settings``.
        info: solver-specific extras (restarts, basis size, seed, ...), JSON-serialisable.
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residual_norms: torch.Tensor
    relative_residuals: torch.Tensor
    converged: bool
    num_matvecs: int
    iterations: int
    seconds: float
    method: str
    which: str
    tol: float
    floor: float
    num_passes: int = 0
    block_size: int = 1
    operator_settings: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Number of eigenpairs."""
        return int(self.eigenvalues.shape[0])

    @property
    def pair_converged(self) -> torch.Tensor:
        """``(k,)`` bool: which pairs meet the tolerance."""
        return self.relative_residuals <= self.tol

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (eigenvectors excluded; non-finite numbers become ``None``)."""
        return {
            "method": self.method,
            "which": self.which,
            "k": self.k,
            "eigenvalues": _floats(self.eigenvalues),
            "residual_norms": _floats(self.residual_norms),
            "relative_residuals": _floats(self.relative_residuals),
            "converged": bool(self.converged),
            "num_matvecs": int(self.num_matvecs),
            "num_passes": int(self.num_passes),
            "block_size": int(self.block_size),
            "iterations": int(self.iterations),
            "seconds": float(self.seconds),
            "tol": float(self.tol),
            "floor": float(self.floor),
            "operator_settings": dict(self.operator_settings),
            "info": dict(self.info),
        }


def _floats(t: torch.Tensor) -> list[float | None]:
    return [float(x) if math.isfinite(x) else None for x in t.detach().cpu().double().tolist()]


def make_result(
    op: LinearOperator,
    *,
    eigenvalues: torch.Tensor,
    eigenvectors: torch.Tensor,
    residuals: torch.Tensor,
    tol: float,
    floor: float,
    which: str,
    method: str,
    matvecs_before: int,
    passes_before: int,
    iterations: int,
    seconds: float,
    block_size: int = 1,
    info: dict[str, Any] | None = None,
) -> EigenResult:
    """Order the pairs by ``which``, derive relative residuals and the converged flag, freeze.

    ``matvecs_before`` and ``passes_before`` are the operator's counters when the solver started."""
    lam = eigenvalues.to(torch.float64).cpu()
    res = residuals.to(torch.float64).cpu()
    order = sort_order(lam, which)
    lam, res = lam[order], res[order]
    vecs = eigenvectors[:, order.to(eigenvectors.device)].to(op.dtype).contiguous()
    rel = res / torch.clamp(lam.abs(), min=floor)
    return EigenResult(
        eigenvalues=lam,
        eigenvectors=vecs,
        residual_norms=res,
        relative_residuals=rel,
        converged=bool((rel <= tol).all()),
        num_matvecs=op.num_matvecs - matvecs_before,
        num_passes=op.num_passes - passes_before,
        block_size=int(block_size),
        iterations=int(iterations),
        seconds=float(seconds),
        method=method,
        which=which,
        tol=float(tol),
        floor=float(floor),
        operator_settings=dict(op.settings),
        info=dict(info or {}),
    )
