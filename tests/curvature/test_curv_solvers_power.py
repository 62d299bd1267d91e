"""Deflated power iteration against torch.linalg.eigh (largest-magnitude pairs, float64 oracles)."""

from __future__ import annotations

import torch

from hessianlab.curvature.eigs import top_eigenpairs
from hessianlab.curvature.operator import FunctionOperator, MatrixOperator
from hessianlab.curvature.power import power_iteration

N = 120



def _matrix(eigenvalues: list[float], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lam = torch.cat([torch.tensor(eigenvalues, dtype=torch.float64),
                     torch.rand(N - len(eigenvalues), generator=g, dtype=torch.float64) * 2 - 1])
    Q, _ = torch.linalg.qr(torch.randn(N, N, generator=g, dtype=torch.float64))
    A = Q @ torch.diag(lam) @ Q.T
    return (A + A.T) / 2


# magnitudes 25 > 20 > -15 > 11 > -8 > 5: well separated, negative ones included, no ±λ ties
HEAD = [25.0, 20.0, -15.0, 11.0, -8.0, 5.0]


def test_power_finds_largest_magnitude_pairs() -> None:
    A = _matrix(HEAD)
    tol = 1e-6
    result = power_iteration(MatrixOperator(A), 6, tol=tol)
    assert result.converged and result.which == "LM" and result.method == "power"
    torch.testing.assert_close(result.eigenvalues, torch.tensor([25.0, 20.0, -15.0, 11.0, -8.0, 5.0],
                                                                dtype=torch.float64), rtol=tol, atol=0)
    lam, U = torch.linalg.eigh(A)
    U = U[:, torch.argsort(lam.abs(), descending=True)][:, :6]
    V = result.eigenvectors
    # gaps >= 3 and residual <= 1e-6 * 25: sin(angle) <= 1e-5, so |cos| >= 1 - 1e-6 is guaranteed
    assert torch.all((V * U).sum(dim=0).abs() >= 1 - 1e-6)
    recomputed = torch.linalg.vector_norm(A @ V - V * result.eigenvalues, dim=0)
    torch.testing.assert_close(result.residual_norms, recomputed, rtol=1e-6, atol=1e-13)
    assert torch.all(result.residual_norms <= tol * result.eigenvalues.abs())


def test_stops_on_residual_not_on_eigenvalue_change_alone() -> None:
    """λ1 = 1, λ2 = 0.999: the Rayleigh quotient barely moves long before the vector converges."""
    A = _matrix([1.0, 0.999])
    result = power_iteration(MatrixOperator(A), 1, tol=1e-4, max_iter=20000)
    assert result.converged
    assert result.relative_residuals[0] <= 1e-4
    assert abs(float(result.eigenvalues[0]) - 1.0) <= 1e-4
    # a change-only rule (PyHessian) would have stopped within a few tens of products
    assert result.info["iterations_per_pair"][0] > 100


def test_not_converged_when_max_iter_too_small_and_counts() -> None:
    A = _matrix(HEAD)
    calls = []

    def fn(v: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return A @ v

    op = FunctionOperator(fn, N, torch.float64)
    result = power_iteration(op, 2, tol=1e-8, max_iter=5)
    assert not result.converged
    assert result.num_matvecs == len(calls) == 10 + 2 == sum(result.info["iterations_per_pair"]) + 2


def test_float32_operator_and_front_door() -> None:
    A = _matrix(HEAD)
    op = MatrixOperator(A.float())
    result = top_eigenpairs(op, k=3, method="power", tol=1e-4)
    assert result.eigenvectors.dtype == torch.float32 and result.converged
    torch.testing.assert_close(result.eigenvalues, torch.tensor([25.0, 20.0, -15.0], dtype=torch.float64),
                               rtol=1e-4, atol=0)
    assert result.which == "LM"
    assert result.num_matvecs == op.num_matvecs
