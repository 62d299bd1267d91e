"""Hutchinson trace: unbiasedness within standard errors, 1/sqrt(m) error, early stop, batching."""

from __future__ import annotations

import json

import pytest
import torch

from hessianlab.curvature.operator import MatrixOperator
from hessianlab.curvature.trace import hutchinson_trace

N = 150



def _matrix(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, N, generator=g, dtype=torch.float64)
    return (X + X.T) / 2 + 3.0 * torch.eye(N, dtype=torch.float64)


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_estimate_within_three_standard_errors(distribution: str) -> None:
    A = _matrix()
    op = MatrixOperator(A)
    result = hutchinson_trace(op, num_samples=200, seed=0, distribution=distribution)
    exact = float(torch.trace(A))
    assert abs(result.estimate - exact) <= 3 * result.standard_error
    assert result.num_samples == 200 and result.num_matvecs == 200 == op.num_matvecs
    # Rademacher variance 2 (||A||_F² - Σ A_ii²) is below Gaussian 2 ||A||_F²: its SE must reflect that
    fro2, diag2 = float((A * A).sum()), float((torch.diag(A) ** 2).sum())
    var = 2 * (fro2 - diag2) if distribution == "rademacher" else 2 * fro2
    assert 0.7 < result.standard_error / (var / 200) ** 0.5 < 1.3


def test_standard_error_shrinks_like_inverse_sqrt() -> None:
    A = _matrix(1)
    se100 = hutchinson_trace(MatrixOperator(A), num_samples=100, seed=1).standard_error
    se400 = hutchinson_trace(MatrixOperator(A), num_samples=400, seed=1).standard_error
    assert 0.38 < se400 / se100 < 0.65  # 1/sqrt(4) = 0.5


def test_diagonal_matrix_is_exact_with_rademacher() -> None:
    D = torch.diag(torch.linspace(-1, 4, N, dtype=torch.float64))
    result = hutchinson_trace(MatrixOperator(D), num_samples=5)
    assert result.estimate == pytest.approx(float(torch.trace(D)), abs=1e-10)
    assert result.standard_error == pytest.approx(0.0, abs=1e-10)


def test_early_stop_and_batching() -> None:
    A = _matrix(2)
    loose = hutchinson_trace(MatrixOperator(A), num_samples=100, tol=0.5)
    assert loose.stopped_early and loose.num_samples == 10 and loose.num_matvecs == 10
    assert loose.standard_error / abs(loose.estimate) < 0.5
    tight = hutchinson_trace(MatrixOperator(A), num_samples=30, tol=1e-9)
    assert not tight.stopped_early and tight.num_samples == 30
    batched = hutchinson_trace(MatrixOperator(A), num_samples=30, batch_size=7)
    torch.testing.assert_close(batched.samples, tight.samples)
    d = json.loads(json.dumps(batched.to_dict()))
    assert d["num_samples"] == 30 and d["operator_settings"]["operator"] == "MatrixOperator"
