"""Spectral density by stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017; Ghorbani et al. 2019).

For each unit probe ``q`` (Rademacher / sqrt(n) by default), ``s`` Lanczos steps from ``q`` give a
tridiagonal ``T = S diag(θ) Sᵀ``; the nodes ``θ_i`` and weights ``w_i = S[0, i]²`` (summing to 1) form the
Gauss quadrature of the measure ``Σ_j (qᵀu_j)² δ(λ_j)``, exact for polynomials of degree ``<= 2s - 1``.
Averaged over probes, ``Σ_i w_i θ_i^m`` estimates ``tr(A^m) / n`` without bias (for ``m <= 2s - 1``).

The plotted density replaces each node by a Gaussian of width ``sigma``:
``φ(t) = (1/P) Σ_p Σ_i w_pi N(t; θ_pi, sigma²)``. Default ``sigma = 0.01 * (θ_max - θ_min)`` over all nodes
of all probes (1% of the observed spectrum width; ``0.01 * max(|θ|)`` if the width is zero). The default grid
has ``num_points`` points from ``θ_min - 5 sigma`` to ``θ_max + 5 sigma``; the density is normalised to
integrate to 1 on its grid by the trapezoid rule, and ``mass_on_grid`` records the trapezoid mass before
that normalisation (close to 1 unless a caller's grid cuts off part of the spectrum).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from hessianlab.curvature.eigs import shares_a_pass
from hessianlab.curvature.block_lanczos import DEFAULT_BLOCK_SIZE
from hessianlab.curvature.lanczos import lanczos_tridiagonals
from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.trace import DISTRIBUTIONS, random_probes
from hessianlab.errors import ConfigError
from hessianlab.friendly import friendly_result


def smoothed_density(nodes: torch.Tensor, weights: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """Un-normalised ``φ(t)`` on ``grid`` (g,) for nodes/weights (P, s): probe-averaged Gaussian mixture."""
    t = grid.to(torch.float64)[:, None]
    out = torch.zeros_like(grid, dtype=torch.float64)
    norm = 1.0 / (sigma * math.sqrt(2.0 * math.pi))
    for p in range(nodes.shape[0]):
        z = (t - nodes[p][None, :]) / sigma
        out += (torch.exp(-0.5 * z * z) * weights[p][None, :]).sum(dim=1) * norm
    return out / nodes.shape[0]


@friendly_result
@dataclass(frozen=True)
class DensityResult:
    """SLQ quadrature per probe, and a smoothed density ready to plot.

    Attributes:
        nodes: ``(P, s)`` float64 Ritz values per probe; a probe whose Krylov space became invariant after
            ``s' < s`` steps has its row padded with zeros of weight zero.
        weights: ``(P, s)`` float64 quadrature weights; each row sums to 1.
        grid: ``(g,)`` float64 points (eigenvalue units).
        density: ``(g,)`` float64 density on ``grid``, trapezoid integral exactly 1.
        sigma: Gaussian smoothing width (eigenvalue units).
        mass_on_grid: trapezoid integral of the smoothed density before normalisation.
        num_probes, num_steps: ``P`` and the requested ``s``.
        distribution, seed: of the probes.
        num_matvecs: products spent (delta of ``op.num_matvecs``).
        seconds: wall time.
        num_passes: passes over the operator's data (delta of ``op.num_passes``).
        probes_per_pass: probes whose Lanczos runs shared each product pass.
        operator_settings: copy of ``op.settings``.
    """

    nodes: torch.Tensor
    weights: torch.Tensor
    grid: torch.Tensor
    density: torch.Tensor
    sigma: float
    mass_on_grid: float
    num_probes: int
    num_steps: int
    distribution: str
    seed: int
    num_matvecs: int
    seconds: float
    num_passes: int = 0
    probes_per_pass: int = 1
    operator_settings: dict[str, Any] = field(default_factory=dict)

    def moment(self, m: int) -> float:
        """Probe mean of ``Σ_i w_i θ_i^m``: an unbiased estimate of ``tr(A^m) / n`` for ``m <= 2s - 1``."""
        return float((self.weights * self.nodes.pow(m)).sum(dim=1).mean())

    def evaluate(self, grid: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
        """The smoothed density on another ``grid`` (g,), optionally with another ``sigma`` (not normalised)."""
        return smoothed_density(self.nodes, self.weights, grid, self.sigma if sigma is None else sigma)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (nodes, weights, grid and density as nested lists)."""
        return {
            "nodes": self.nodes.tolist(),
            "weights": self.weights.tolist(),
            "grid": self.grid.tolist(),
            "density": self.density.tolist(),
            "sigma": float(self.sigma),
            "mass_on_grid": float(self.mass_on_grid),
            "num_probes": int(self.num_probes),
            "num_steps": int(self.num_steps),
            "distribution": self.distribution,
            "seed": int(self.seed),
            "num_matvecs": int(self.num_matvecs),
            "seconds": float(self.seconds),
            "num_passes": int(self.num_passes),
            "probes_per_pass": int(self.probes_per_pass),
            "operator_settings": dict(self.operator_settings),
        }


def spectral_density(
    op: LinearOperator,
    *,
    num_probes: int = 10,
    num_steps: int = 80,
    sigma: float | None = None,
    grid: torch.Tensor | None = None,
    num_points: int = 1000,
    seed: int = 0,
    distribution: str = "rademacher",
    reorthogonalise: bool = True,
    probes_per_pass: int | None = None,
) -> DensityResult:
    """Eigenvalue density of ``op`` by stochastic Lanczos quadrature.

    Args:
        op: any :class:`LinearOperator` of size ``n``.
        num_probes: number of random probes ``P``.
        num_steps: Lanczos steps per probe ``s`` (capped at ``n``); costs ``P * s`` products.
        sigma: Gaussian smoothing width; default 1% of the node range (see module docstring).
        grid: ``(g,)`` evaluation points; default ``num_points`` points spanning the nodes +- 5 sigma.
        num_points: size of the default grid.
        seed: seeds the probes (CPU generator).
        distribution: ``"rademacher"`` (default, unbiased moments) or ``"gaussian"`` (normalised).
        reorthogonalise: full re-orthogonalisation in Lanczos (keeps ``s`` float64 vectors per probe run).
        probes_per_pass: probes whose Lanczos runs share each ``op.matmat`` (one pass per step for all of
            them, :func:`~hessianlab.curvature.lanczos.lanczos_tridiagonals`); default
            ``DEFAULT_BLOCK_SIZE`` (8) when the operator computes a block in one pass
            (:func:`~hessianlab.curvature.eigs.shares_a_pass`), else 1. The probes, and so the estimate, do not
            depend on it (to product rounding); memory grows to ``probes_per_pass * s * n`` float64 numbers.
    """
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    if num_probes < 1 or num_steps < 1 or num_points < 2:
        raise ConfigError("num_probes and num_steps must be >= 1 and num_points >= 2")
    if sigma is not None and not sigma > 0:
        raise ConfigError(f"sigma must be positive, got {sigma}")
    if probes_per_pass is None:
        probes_per_pass = DEFAULT_BLOCK_SIZE if shares_a_pass(op) else 1
    if probes_per_pass < 1:
        raise ConfigError(f"probes_per_pass must be >= 1, got {probes_per_pass}")
    t0 = time.perf_counter()
    mv_before, passes_before = op.num_matvecs, op.num_passes
    gen = torch.Generator().manual_seed(seed)
    s = min(num_steps, op.size)
    nodes = torch.zeros(num_probes, s, dtype=torch.float64)
    weights = torch.zeros(num_probes, s, dtype=torch.float64)
    lo, hi = math.inf, -math.inf
    for first in range(0, num_probes, probes_per_pass):
        Z = random_probes(op.size, min(probes_per_pass, num_probes - first), distribution, gen)
        runs = lanczos_tridiagonals(op, Z / torch.linalg.vector_norm(Z, dim=0), s, reorthogonalise=reorthogonalise)
        for p, (alpha, beta) in enumerate(runs, start=first):
            T = torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)
            theta, S = torch.linalg.eigh(T)
            nodes[p, : theta.numel()] = theta
            weights[p, : theta.numel()] = S[0] ** 2
            lo, hi = min(lo, float(theta.min())), max(hi, float(theta.max()))
    if sigma is None:
        width = hi - lo
        sigma = 0.01 * width if width > 0 else 0.01 * max(abs(hi), abs(lo), 1e-12)
    if grid is None:
        grid = torch.linspace(lo - 5 * sigma, hi + 5 * sigma, num_points, dtype=torch.float64)
    grid = grid.to(torch.float64).cpu()
    raw = smoothed_density(nodes, weights, grid, sigma)
    mass = float(torch.trapezoid(raw, grid))
    return DensityResult(
        nodes=nodes,
        weights=weights,
        grid=grid,
        density=raw / mass if mass > 0 else raw,
        sigma=float(sigma),
        mass_on_grid=mass,
        num_probes=num_probes,
        num_steps=num_steps,
        distribution=distribution,
        seed=seed,
        num_matvecs=op.num_matvecs - mv_before,
        seconds=time.perf_counter() - t0,
        num_passes=op.num_passes - passes_before,
        probes_per_pass=probes_per_pass,
        operator_settings=dict(op.settings),
    )
