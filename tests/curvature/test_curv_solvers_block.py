"""Thick-restart block Lanczos against torch.linalg.eigh on matrices with known spectra (float64 oracles),
warm starts, pass counting and the 'auto' rule."""

from __future__ import annotations

import importlib

import pytest
import torch

from hessianlab.curvature.block_lanczos import block_lanczos, orthonormal_block
from hessianlab.curvature.eigs import choose_method, shares_a_pass, top_eigenpairs
from hessianlab.curvature.lanczos import lanczos
from hessianlab.curvature.operator import FunctionOperator, MatrixOperator
from hessianlab.errors import ConfigError
from tests.curvature.test_curv_solvers_lanczos import N, _matrix, check_pairs, counting_operator, reference, spectrum

CASES = [(kind, which) for kind in ("mixed", "clustered") for which in ("LA", "SA", "LM")]
CASES += [("psd", "LA"), ("psd", "LM")]
BLOCKS = [(kind, which, b) for kind, which in CASES for b in (3, 8)]
# SA of 'psd': the bottom is an exactly repeated zero (20 copies); a block of b vectors sees b copies of it,
# so the 8 wanted pairs need b >= 8 (with b = 3 the solver certifies 3 zeros and 5 true but wrong pairs)
BLOCKS += [("psd", "SA", 8)]


@pytest.mark.parametrize("kind,which,block_size", BLOCKS)
def test_block_lanczos_matches_eigh(kind: str, which: str, block_size: int) -> None:
    A = _matrix(spectrum(kind), seed=2)
    op = MatrixOperator(A)
    result = block_lanczos(op, 8, which=which, tol=1e-8, block_size=block_size, ncv=80)
    check_pairs(A, result, which, 1e-8)
    assert result.method == "block_lanczos" and result.block_size == block_size
    # every pass multiplies one block; no residual products at the end for a float64 operator
    assert result.num_passes == op.num_passes == result.iterations
    assert result.info["residual_checks"] == 0
    assert result.num_matvecs <= block_size * result.num_passes + 8 * (block_size + 8)


def _double_top() -> torch.Tensor:
    """A spectrum whose top eigenvalue 10 is exactly double, then 7, 5 and a bulk in [-1, 1]."""
    g = torch.Generator().manual_seed(3)
    bulk = torch.rand(N - 4, generator=g, dtype=torch.float64) * 2 - 1
    return torch.cat([torch.tensor([10.0, 10.0, 7.0, 5.0], dtype=torch.float64), bulk])


def test_repeated_top_eigenvalue_single_vector_misses_block_finds() -> None:
    A = _matrix(_double_top(), seed=4)
    single = lanczos(MatrixOperator(A), 2, tol=1e-8)
    # single-vector Krylov sees one direction of the double eigenvalue: it certifies (10, 7), a true
    # pair each, but not the top two
    assert single.converged
    torch.testing.assert_close(single.eigenvalues, torch.tensor([10.0, 7.0], dtype=torch.float64))
    block = block_lanczos(MatrixOperator(A), 2, tol=1e-8, block_size=4)
    check_pairs(A, block, "LA", 1e-8)
    torch.testing.assert_close(block.eigenvalues, torch.tensor([10.0, 10.0], dtype=torch.float64))
    # the two vectors span the eigenspace of 10
    _, U = torch.linalg.eigh(A)
    top = U[:, -2:]
    proj = top.T @ block.eigenvectors
    torch.testing.assert_close(proj.T @ proj, torch.eye(2, dtype=torch.float64), atol=1e-7, rtol=0)


def test_clustered_random_matrices() -> None:
    """Random symmetric matrices with a tight cluster of 6 at the top (gaps 1e-4) and k = 8 straddling it."""
    for seed in range(3):
        g = torch.Generator().manual_seed(100 + seed)
        head = torch.tensor([5.0 + 1e-4 * i for i in range(6)] + [4.0, 3.9], dtype=torch.float64)
        lam = torch.cat([head, torch.randn(N - 8, generator=g, dtype=torch.float64)])
        A = _matrix(lam, seed=20 + seed)
        result = block_lanczos(MatrixOperator(A), 8, tol=1e-10, block_size=4, seed=seed)
        check_pairs(A, result, "LA", 1e-10)


def test_low_rank_operator_drops_dependent_directions() -> None:
    """Rank 3 with block 8: the first product block is rank deficient; zero pairs are judged on the floor."""
    g = torch.Generator().manual_seed(9)
    X = torch.randn(50, 3, generator=g, dtype=torch.float64)
    A = X @ X.T
    result = block_lanczos(MatrixOperator(A), 5, tol=1e-8, block_size=8)
    ref, _ = reference(A, "LA", 5)
    assert result.converged
    torch.testing.assert_close(result.eigenvalues, ref, rtol=1e-8, atol=1e-9)


def test_small_n_exhaustion_is_exact() -> None:
    A = _matrix(torch.tensor([3.0, -1.0, 0.5, 2.0, 7.0], dtype=torch.float64), seed=5)
    result = block_lanczos(MatrixOperator(A), 5, tol=1e-10, block_size=2)
    assert result.info["exhausted"] and result.converged
    torch.testing.assert_close(result.eigenvalues, torch.tensor([7.0, 3.0, 2.0, 0.5, -1.0], dtype=torch.float64),
                               rtol=0, atol=1e-12)
    assert result.num_passes == 3 and result.num_matvecs == 5  # blocks of 2, 2 and 1


def test_column_loop_operator_counts_products_and_passes() -> None:
    """A FunctionOperator multiplies column by column: every product is a pass, and all are counted."""
    op, calls = counting_operator(_matrix(spectrum("mixed"), seed=6))
    result = block_lanczos(op, 6, tol=1e-6, block_size=4)
    assert result.converged
    assert result.num_matvecs == len(calls) == op.num_matvecs == op.num_passes == result.num_passes


def test_float32_operator_certificates_are_true_residuals() -> None:
    """float32 products, float64 basis: the reported residuals are within the rounding margin of
    freshly computed ones, and every pair meets tol by a fresh product too."""
    A = _matrix(spectrum("mixed"), seed=8)
    A32 = A.float()
    result = block_lanczos(MatrixOperator(A32), 5, tol=1e-4, block_size=4)
    assert result.eigenvectors.dtype == torch.float32 and result.converged
    V = result.eigenvectors
    fresh = torch.linalg.vector_norm((A32 @ V).double() - V.double() * result.eigenvalues, dim=0)
    eps = torch.finfo(torch.float32).eps
    assert float((fresh - result.residual_norms).abs().max()) <= 8 * eps * float(result.eigenvalues.abs().max())
    assert bool((fresh <= result.tol * torch.clamp(result.eigenvalues.abs(), min=result.floor)).all())
    ref, _ = reference(A, "LA", 5)
    assert torch.all((result.eigenvalues - ref).abs() <= 1e-4 * ref.abs())


def test_not_converged_when_budget_too_small() -> None:
    A = _matrix(spectrum("clustered"), seed=7)
    result = block_lanczos(MatrixOperator(A), 5, tol=1e-10, block_size=2, max_passes=3)
    assert not result.converged and result.num_passes == 3
    assert bool((result.relative_residuals > result.tol).any())


def test_seeded_runs_are_identical() -> None:
    A = _matrix(spectrum("mixed"), seed=11)
    a = block_lanczos(MatrixOperator(A), 4, seed=3)
    b = block_lanczos(MatrixOperator(A), 4, seed=3)
    assert torch.equal(a.eigenvalues, b.eigenvalues) and a.num_matvecs == b.num_matvecs


def test_orthonormal_block_replaces_dependent_columns() -> None:
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(30, 4, generator=g, dtype=torch.float64))[0]
    d = torch.randn(30, generator=g, dtype=torch.float64)
    # only the first column is new: 2d repeats it, basis[:, 0] and d + basis[:, 1] add nothing outside it
    D = torch.stack([d, 2 * d, basis[:, 0], d + basis[:, 1]], dim=1)
    P, dropped = orthonormal_block(basis, D, 4, g)
    assert dropped == 3 and P.shape == (30, 4)
    torch.testing.assert_close(P[:, 0], (d - basis @ (basis.T @ d)) / torch.linalg.vector_norm(d - basis @ (basis.T @ d)))
    torch.testing.assert_close(P.T @ P, torch.eye(4, dtype=torch.float64), atol=1e-12, rtol=0)
    assert float((basis.T @ P).abs().max()) <= 1e-12


def test_invalid_arguments() -> None:
    op = MatrixOperator(torch.eye(10, dtype=torch.float64))
    for kwargs in ({"k": 11}, {"k": 0}, {"which": "BE"}, {"tol": 0.0}, {"k": 2, "block_size": 0},
                   {"k": 4, "block_size": 4, "ncv": 6}, {"k": 2, "max_passes": 0},
                   {"k": 2, "v0": torch.ones(9)}, {"k": 2, "v0": torch.zeros(10, 2)},
                   {"k": 2, "v0": torch.full((10,), float("nan"))}, {"k": 2, "ncv": 6, "v0": torch.randn(10, 7)}):
        with pytest.raises(ConfigError):
            block_lanczos(op, **kwargs)
    with pytest.raises(ConfigError):
        top_eigenpairs(op, k=1, method="arnoldi")


# -- warm starts ----------------------------------------------------------------------------------------


def _drifting(steps: int, scale: float) -> list[torch.Tensor]:
    """``A_t = A_0 + scale * t * E`` with a fixed symmetric perturbation ``E`` (``||E||_2 ~ 1``)."""
    A0 = _matrix(spectrum("mixed"), seed=12)
    g = torch.Generator().manual_seed(13)
    E = torch.randn(N, N, generator=g, dtype=torch.float64)
    E = (E + E.T) / (2 * torch.linalg.matrix_norm(E, ord=2))
    return [A0 + scale * t * E for t in range(steps)]


@pytest.mark.parametrize("method", ["block", "lanczos", "power"])
def test_warm_start_equals_cold_start(method: str) -> None:
    tol = 1e-8
    which = "LM" if method == "power" else "LA"
    A0, A1 = _drifting(2, 1e-3)
    prev = top_eigenpairs(MatrixOperator(A0), k=4, method=method, which=which, tol=tol)
    warm = top_eigenpairs(MatrixOperator(A1), k=4, method=method, which=which, tol=tol, v0=prev)
    cold = top_eigenpairs(MatrixOperator(A1), k=4, method=method, which=which, tol=tol)
    assert warm.converged and cold.converged
    bound = 2 * tol * torch.clamp(cold.eigenvalues.abs(), min=cold.floor)
    assert torch.all((warm.eigenvalues - cold.eigenvalues).abs() <= bound)
    check_pairs(A1, warm, which, tol)
    assert warm.num_matvecs < cold.num_matvecs  # warm starts pay off on a slowly changing operator


def test_warm_start_saves_passes_along_a_sequence() -> None:
    """λ tracking: each solve starts from the previous result; all agree with eigh, and passes drop."""
    mats = _drifting(5, 2e-3)
    prev, warm_passes, cold_passes = None, [], []
    for A in mats:
        warm = top_eigenpairs(MatrixOperator(A), k=6, method="block", tol=1e-6, v0=prev)
        cold = top_eigenpairs(MatrixOperator(A), k=6, method="block", tol=1e-6)
        check_pairs(A, warm, "LA", 1e-6)
        warm_passes.append(warm.num_passes)
        cold_passes.append(cold.num_passes)
        assert warm.info["warm_start"] == (0 if prev is None else 6)
        prev = warm
    assert warm_passes[0] == cold_passes[0]
    assert sum(warm_passes[1:]) * 2 <= sum(cold_passes[1:])


def test_warm_single_vector_lambda1_stops_within_a_few_products() -> None:
    """λ1 tracking: from the previous top vector of a slightly changed matrix, single-vector Lanczos needs
    a handful of products (the cold solve waits for 11 Krylov vectors before its first test)."""
    A0, A1 = _drifting(2, 1e-4)
    prev = lanczos(MatrixOperator(A0), 1, tol=1e-8)
    warm = top_eigenpairs(MatrixOperator(A1), k=1, method="lanczos", tol=1e-6, v0=prev)
    cold = top_eigenpairs(MatrixOperator(A1), k=1, method="lanczos", tol=1e-6)
    check_pairs(A1, warm, "LA", 1e-6)
    assert warm.num_passes <= 5 < cold.num_passes
    assert abs(float(warm.eigenvalues[0] - cold.eigenvalues[0])) <= 2e-6 * abs(float(cold.eigenvalues[0]))


def test_warm_start_block_tensor_and_vector() -> None:
    A = _matrix(spectrum("mixed"), seed=14)
    _, U = reference(A, "LA", 3)
    noisy = U + 1e-3 * torch.randn(N, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    from_block = block_lanczos(MatrixOperator(A), 3, tol=1e-8, v0=noisy)
    from_vector = block_lanczos(MatrixOperator(A), 3, tol=1e-8, v0=noisy[:, 0])
    check_pairs(A, from_block, "LA", 1e-8)
    check_pairs(A, from_vector, "LA", 1e-8)
    assert from_block.info["warm_start"] == 3 and from_vector.info["warm_start"] == 1


def test_warm_start_from_a_result_of_another_size_is_refused() -> None:
    small = top_eigenpairs(MatrixOperator(torch.eye(5, dtype=torch.float64)), k=2)
    with pytest.raises(ConfigError, match="size"):
        top_eigenpairs(MatrixOperator(torch.eye(6, dtype=torch.float64)), k=2, method="block", v0=small)


# -- the 'auto' rule ------------------------------------------------------------------------------------


def test_auto_picks_block_only_where_a_block_shares_a_pass() -> None:
    """Operators without data: a dense matrix's matmat is one matrix product (block pays), the column loop of
    FunctionOperator is not; the dataset operators are tested in test_curv_solvers_block_nn."""
    A = _matrix(spectrum("mixed"), seed=15)
    dense, loop = MatrixOperator(A), FunctionOperator(lambda v: A @ v, N, torch.float64)
    assert shares_a_pass(dense) and not shares_a_pass(loop)
    assert choose_method(dense, 20) == "block" and choose_method(dense, 1) == "lanczos"
    assert choose_method(dense, 1, v0=torch.randn(N, 3)) == "block"
    assert choose_method(loop, 20) == "lanczos"
    result = top_eigenpairs(dense, k=5, method="auto", tol=1e-8)
    assert result.method == "block_lanczos" and result.info["method_requested"] == "auto"
    check_pairs(A, result, "LA", 1e-8)


def test_pairs_within_the_rounding_margin_are_rechecked_by_a_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a margin wider than tol every certified pair is borderline: one verification pass multiplies the
    returned vectors, and the reported residuals are those fresh products."""
    bl = importlib.import_module("hessianlab.curvature.block_lanczos")  # the package re-exports the function
    monkeypatch.setattr(importlib.import_module("hessianlab.curvature.results"), "ROUNDING_MARGIN", 1e12)
    A32 = _matrix(spectrum("mixed"), seed=8).float()
    op = MatrixOperator(A32)
    result = bl.block_lanczos(op, 4, tol=1e-4, block_size=4)
    assert result.converged and result.info["residual_checks"] >= 1
    assert result.num_passes == result.iterations + result.info["residual_checks"]
    V = result.eigenvectors
    fresh = torch.linalg.vector_norm((A32 @ V).double() - V.double() * result.eigenvalues, dim=0)
    torch.testing.assert_close(result.residual_norms, fresh, rtol=1e-5, atol=1e-6)
