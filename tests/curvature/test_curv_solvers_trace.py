"""Hutchinson trace: unbiasedness within standard errors, 1/sqrt(m) error, early stop, batching."""

from __future__ import annotations

import json

import pytest
import torch

from hessianlab.curvature.operator import MatrixOperator
from hessianlab.curvature.hutchpp import hutchpp_trace
from hessianlab.curvature.trace import hutchinson_trace
from hessianlab.errors import ConfigError

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
    loose = hutchinson_trace(MatrixOperator(A), num_samples=100, tol=0.5, batch_size=1)
    assert loose.stopped_early and loose.num_samples == 10 and loose.num_matvecs == 10 == loose.num_passes
    # the default batches 8 probes per pass on an operator that shares a pass: the test runs after 16
    blocked = hutchinson_trace(MatrixOperator(A), num_samples=100, tol=0.5)
    assert blocked.stopped_early and blocked.num_samples == 16 and blocked.num_passes == 2
    torch.testing.assert_close(blocked.samples[:10], loose.samples)
    assert loose.standard_error / abs(loose.estimate) < 0.5
    tight = hutchinson_trace(MatrixOperator(A), num_samples=30, tol=1e-9)
    assert not tight.stopped_early and tight.num_samples == 30
    batched = hutchinson_trace(MatrixOperator(A), num_samples=30, batch_size=7)
    torch.testing.assert_close(batched.samples, tight.samples)
    assert batched.num_matvecs == 30 and batched.num_passes == 5
    d = json.loads(json.dumps(batched.to_dict()))
    assert d["num_samples"] == 30 and d["operator_settings"]["operator"] == "MatrixOperator"


# -- Hutch++ ---------------------------------------------------------------------------------------------


def _outliers(rank_bulk: int | None = None, seed: int = 3) -> torch.Tensor:
    """A Hessian-like spectrum: 6 large outliers over a small bulk (or exactly low rank)."""
    g = torch.Generator().manual_seed(seed)
    lam = torch.zeros(N, dtype=torch.float64)
    lam[:6] = torch.tensor([200.0, 120.0, 80.0, 50.0, 30.0, -20.0], dtype=torch.float64)
    if rank_bulk is None:
        lam[6:] = torch.rand(N - 6, generator=g, dtype=torch.float64) * 0.2 - 0.05
    Q = torch.linalg.qr(torch.randn(N, N, generator=g, dtype=torch.float64))[0]
    return (Q * lam) @ Q.T


def test_hutchpp_is_exact_for_low_rank() -> None:
    A = _outliers(rank_bulk=0)  # rank 6 <= m/3 = 10
    op = MatrixOperator(A)
    result = hutchpp_trace(op, num_matvecs=30)
    assert result.estimate == pytest.approx(float(torch.trace(A)), abs=1e-9)
    assert result.low_rank == 10 and abs(float(result.samples.abs().max())) <= 1e-9
    assert result.num_matvecs == 30 == op.num_matvecs and result.num_passes == 2 and result.method == "hutch++"


def test_hutchpp_unbiased_and_beats_hutchinson_on_outliers() -> None:
    A = _outliers()
    exact = float(torch.trace(A))
    pp = [hutchpp_trace(MatrixOperator(A), num_matvecs=30, seed=s) for s in range(40)]
    hu = [hutchinson_trace(MatrixOperator(A), num_samples=30, seed=s) for s in range(40)]
    pp_err = torch.tensor([r.estimate - exact for r in pp])
    hu_err = torch.tensor([r.estimate - exact for r in hu])
    # unbiased: the mean error over 40 seeds is within 3 standard errors of that mean
    assert abs(float(pp_err.mean())) <= 3 * float(pp_err.std()) / 40 ** 0.5
    assert float(pp_err.pow(2).mean()) * 20 < float(hu_err.pow(2).mean())
    # the reported (conditional) standard error matches the observed spread within a factor 2
    se = float(torch.tensor([r.standard_error for r in pp]).mean())
    assert 0.5 < float(pp_err.std()) / se < 2.0


def test_hutchpp_batching_does_not_change_the_estimate() -> None:
    A = _outliers()
    one = hutchpp_trace(MatrixOperator(A), num_matvecs=24, seed=5, batch_size=1)
    many = hutchpp_trace(MatrixOperator(A), num_matvecs=24, seed=5)
    assert one.num_passes == 24 and many.num_passes == 2
    assert one.estimate == pytest.approx(many.estimate, rel=1e-10)
    with pytest.raises(ConfigError):
        hutchpp_trace(MatrixOperator(A), num_matvecs=5)
