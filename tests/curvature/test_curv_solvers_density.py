"""Stochastic Lanczos quadrature: normalisation, exact moments in expectation, exact nodes when s >= n."""

from __future__ import annotations

import json

import pytest

import torch

from hessianlab.curvature.density import spectral_density
from hessianlab.curvature.operator import MatrixOperator



def _matrix(eigenvalues: torch.Tensor, seed: int = 0) -> torch.Tensor:
    n = eigenvalues.numel()
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    A = Q @ torch.diag(eigenvalues) @ Q.T
    return (A + A.T) / 2


def _spectrum(n: int = 150) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    head = torch.tensor([30.0, 12.0, -4.0], dtype=torch.float64)
    return torch.cat([head, torch.randn(n - 3, generator=g, dtype=torch.float64)])


def test_density_integrates_to_one_and_weights_sum_to_one() -> None:
    A = _matrix(_spectrum())
    op = MatrixOperator(A)
    result = spectral_density(op, num_probes=4, num_steps=30)
    assert abs(float(torch.trapezoid(result.density, result.grid)) - 1.0) < 1e-12
    assert abs(result.mass_on_grid - 1.0) < 1e-3
    torch.testing.assert_close(result.weights.sum(dim=1), torch.ones(4, dtype=torch.float64))
    assert result.num_matvecs == 4 * 30 == op.num_matvecs
    width = float(result.nodes.max() - result.nodes.min())
    assert abs(result.sigma - 0.01 * width) < 1e-12
    assert result.grid[0] < result.nodes.min() - 4 * result.sigma and result.grid[-1] > result.nodes.max() + 4 * result.sigma
    assert torch.all(result.density >= 0)
    json.dumps(result.to_dict())


def test_first_two_moments_match_traces() -> None:
    """Σ w θ^m averaged over Rademacher probes is unbiased for tr(A^m)/n; tolerance = 4 standard errors."""
    A = _matrix(_spectrum())
    n, probes = A.shape[0], 40
    result = spectral_density(MatrixOperator(A), num_probes=probes, num_steps=20, seed=1)
    for m in (1, 2):
        B = torch.linalg.matrix_power(A, m)
        exact = float(torch.trace(B)) / n
        # Var(qᵀBq) for q = z / sqrt(n), z Rademacher: 2 (||B||_F² - Σ B_ii²) / n²
        sd = (2 * (float((B * B).sum()) - float((torch.diag(B) ** 2).sum()))) ** 0.5 / n / probes ** 0.5
        assert abs(result.moment(m) - exact) <= 4 * sd, (m, result.moment(m), exact, sd)
    assert abs(result.moment(0) - 1.0) < 1e-12


def test_nodes_are_exact_eigenvalues_when_steps_reach_n() -> None:
    lam = torch.tensor([-3.0, -1.0, 0.0, 0.5, 1.5, 2.0, 4.0, 7.0, 8.5, 12.0], dtype=torch.float64)
    A = _matrix(lam, seed=3)
    result = spectral_density(MatrixOperator(A), num_probes=8, num_steps=25, seed=2)
    assert result.nodes.shape == (8, 10)
    for p in range(8):
        torch.testing.assert_close(result.nodes[p], lam, rtol=0, atol=1e-9)
        assert torch.all(result.weights[p] > 0)
    # with exact nodes, every moment is the Hutchinson estimate of tr(A^m)/n; m = 0 is exact
    assert abs(result.moment(0) - 1.0) < 1e-12


def test_custom_grid_and_sigma() -> None:
    A = _matrix(_spectrum(60), seed=4)
    grid = torch.linspace(-10, 40, 501, dtype=torch.float64)
    result = spectral_density(MatrixOperator(A), num_probes=2, num_steps=15, grid=grid, sigma=0.5)
    assert torch.equal(result.grid, grid) and result.sigma == 0.5
    assert abs(float(torch.trapezoid(result.density, grid)) - 1.0) < 1e-12
    torch.testing.assert_close(result.evaluate(grid) / result.mass_on_grid, result.density)


def test_probes_sharing_a_pass_give_the_same_quadrature() -> None:
    """Batched Lanczos over independent probes equals one run per probe, in fewer passes."""
    A = _matrix(_spectrum())
    one_op, many_op = MatrixOperator(A), MatrixOperator(A)
    one = spectral_density(one_op, num_probes=5, num_steps=25, probes_per_pass=1)
    many = spectral_density(many_op, num_probes=5, num_steps=25)  # default: 8 per pass, here all 5
    torch.testing.assert_close(many.nodes, one.nodes, rtol=0, atol=1e-9)
    torch.testing.assert_close(many.weights, one.weights, rtol=0, atol=1e-9)
    assert one.num_passes == 125 and many.num_passes == 25 and many.probes_per_pass == 8
    assert one.num_matvecs == many.num_matvecs == 125


def test_probe_batches_with_an_invariant_probe() -> None:
    """Probes whose Krylov spaces become invariant stop; the pass count stops growing with them."""
    lam = torch.tensor([3.0, 3.0, -1.0, -1.0] + [0.5 * i for i in range(16)], dtype=torch.float64)
    A = torch.diag(lam)
    op = MatrixOperator(A)
    result = spectral_density(op, num_probes=3, num_steps=30, probes_per_pass=3)
    exact = float((lam ** 3).mean())
    # 17 distinct eigenvalues (-1, 0, 0.5, ..., 7.5): every probe is invariant after 17 steps, all in the same passes
    assert result.num_steps == 30 and op.num_passes == 17 and bool(((result.weights > 0).sum(dim=1) == 17).all())
    assert result.moment(3) == pytest.approx(exact, rel=1e-9)  # Rademacher on a diagonal: exact quadrature
