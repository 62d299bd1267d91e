"""Front door for eigenpairs: ``top_eigenpairs(op, k=20)`` picks the solver.

``method="lanczos"`` (default) runs thick-restart Lanczos for ``which`` in ``{"LA", "SA", "LM"}``.
``method="power"`` runs deflated power iteration, which always finds the largest-**magnitude** pairs:
``which="LA"`` is accepted (for Hessians dominated by positive outliers the two coincide) but the result
says ``which="LM"`` and a warning is logged if a negative eigenvalue is among them; ``which="SA"`` is refused.
"""

from __future__ import annotations

import logging
from typing import Any

from hessianlab.curvature.lanczos import lanczos
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.power import power_iteration
from hessianlab.curvature.results import EigenResult, WHICH
from hessianlab.errors import ConfigError

log = logging.getLogger(__name__)

METHODS = ("lanczos", "power")


def top_eigenpairs(
    op: LinearOperator,
    k: int = 20,
    *,
    method: str = "lanczos",
    which: str = "LA",
    tol: float = 1e-4,
    **kw: Any,
) -> EigenResult:
    """The ``k`` extreme eigenpairs of ``op`` (see :func:`lanczos` and :func:`power_iteration` for ``kw``).

    Returns:
        :class:`EigenResult`: eigenvalues ``(k,)`` float64 ordered by ``which``, eigenvectors ``(n, k)``,
        true residuals, ``converged``, ``num_matvecs``, ``seconds``, ``operator_settings``.
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    if which not in WHICH:
        raise ConfigError(f"which must be one of {WHICH}, got {which!r}")
    if method == "lanczos":
        return lanczos(op, k, which=which, tol=tol, **kw)
    if which == "SA":
        raise ConfigError("power iteration finds largest-magnitude eigenvalues; use method='lanczos' for which='SA'")
    result = power_iteration(op, k, tol=tol, **kw)
    if which == "LA" and bool((result.eigenvalues < 0).any()):
        log.warning("power iteration returned negative eigenvalues for which='LA' (it finds largest |λ|); "
                    "use method='lanczos' for the largest algebraic eigenvalues")
    return result
