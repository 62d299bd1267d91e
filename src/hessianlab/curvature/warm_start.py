"""Warm starts: turn a previous solve (or any start vectors) into the start block of the next solve.

Tracking curvature during training (λ1 per epoch, ABS's per-check solve) solves a sequence of slowly
changing operators ``A_1, A_2, ...``. Starting the solve of ``A_{t+1}`` from the Ritz vectors of ``A_t``
puts the start block close to the wanted invariant subspace, so the first Rayleigh-Ritz step already gives
eigenvalues accurate to ``O(||A_{t+1} - A_t||)`` and the solver spends its passes only on the change.

``v0`` may be a flat vector ``(n,)``, a block ``(n, m)`` or an :class:`EigenResult` (its eigenvectors,
``(n, k)``). The result of a warm-started solve is the same as that of a cold one up to the tolerance: only
the start, never the stopping rule, changes.
"""

from __future__ import annotations

import torch

from hessianlab.curvature.results import EigenResult
from hessianlab.errors import ConfigError

StartVectors = torch.Tensor | EigenResult


def start_block(v0: StartVectors | None, n: int) -> torch.Tensor | None:
    """``v0`` as a float64 CPU block ``(n, m)`` (``None`` stays ``None``); columns are not yet orthonormal.

    Raises:
        ConfigError: wrong size, non-finite entries or an all-zero block.
    """
    if v0 is None:
        return None
    block = v0.eigenvectors if isinstance(v0, EigenResult) else v0
    if not isinstance(block, torch.Tensor):
        raise ConfigError(f"v0 must be a tensor (n,) or (n, m) or an EigenResult, got {type(v0).__name__}")
    block = block.detach().to(torch.float64).cpu()
    if block.dim() == 1:
        block = block[:, None]
    if block.dim() != 2 or block.shape[0] != n or block.shape[1] == 0:
        raise ConfigError(
            f"v0 must have shape ({n},) or ({n}, m) for an operator of size {n}, got {tuple(block.shape)}; "
            "pass start vectors (or a previous result) of this operator's size"
        )
    if not bool(torch.isfinite(block).all()) or not bool((block != 0).any()):
        raise ConfigError("v0 must be finite and not all zero; pass other start vectors or v0=None")
    return block


def start_vector(v0: StartVectors | None, n: int) -> torch.Tensor | None:
    """One start vector ``(n,)`` for single-vector solvers: the sum of the unit-normalised columns of
    :func:`start_block`, so every previous direction is present in the Krylov space it generates."""
    block = start_block(v0, n)
    if block is None:
        return None
    norms = torch.linalg.vector_norm(block, dim=0)
    v = (block[:, norms > 0] / norms[norms > 0]).sum(dim=1)
    if not float(torch.linalg.vector_norm(v)) > 0:
        raise ConfigError("the columns of v0 cancel out; pass other start vectors or v0=None")
    return v
