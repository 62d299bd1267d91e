"""Thick-restart Lanczos against torch.linalg.eigh on matrices with known spectra (float64 oracles)."""

from __future__ import annotations

import functools
import importlib
import json

import pytest
import torch

from hessianlab.curvature.eigs import top_eigenpairs
from hessianlab.curvature.lanczos import lanczos, lanczos_tridiagonal
from hessianlab.curvature.operator import FunctionOperator, MatrixOperator
from hessianlab.errors import ConfigError

N = 200



@functools.lru_cache(maxsize=None)
def _orthogonal(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]


def _matrix(eigenvalues: torch.Tensor, seed: int) -> torch.Tensor:
    """``Q diag(λ) Qᵀ`` with a seeded random orthogonal ``Q`` (cached: QR is the slow part)."""
    Q = _orthogonal(eigenvalues.numel(), seed)
    A = Q @ torch.diag(eigenvalues) @ Q.T
    return (A + A.T) / 2


def spectrum(kind: str) -> torch.Tensor:
    """Known spectra of size N: outliers, a tight cluster, negative outliers, a bulk; no ±λ ties."""
    g = torch.Generator().manual_seed(1)
    if kind == "mixed":
        head = [25.0, 21.0, 17.5, 14.0, 11.0, 9.0, 7.5, 4.0, 4.001, 4.002, -6.3, -9.7, -13.1]
        bulk = torch.rand(N - len(head), generator=g, dtype=torch.float64) * 2 - 1
    elif kind == "psd":
        head = [50.0, 30.0, 20.0, 12.0, 8.0, 5.0] + [0.0] * 20
        bulk = torch.rand(N - len(head), generator=g, dtype=torch.float64) * 0.5
    else:  # clustered: a tight cluster on top of a bulk
        head = [10.0 + 1e-3 * i for i in range(5)] + [-3.0, -3.002]
        bulk = torch.rand(N - len(head), generator=g, dtype=torch.float64) * 5
    return torch.cat([torch.tensor(head, dtype=torch.float64), bulk])


def reference(A: torch.Tensor, which: str, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    lam, U = torch.linalg.eigh(A)
    order = {"LA": torch.argsort(lam, descending=True), "SA": torch.argsort(lam),
             "LM": torch.argsort(lam.abs(), descending=True)}[which]
    return lam[order][:k], U[:, order][:, :k]


def check_pairs(A: torch.Tensor, result, which: str, tol: float) -> None:
    """Eigenvalues within the residual bound, residuals true and below tol, well-separated vectors match."""
    k = result.k
    ref, U = reference(A, which, k)
    lam_all = torch.linalg.eigvalsh(A)
    bound = tol * torch.clamp(ref.abs(), min=result.floor)
    assert result.converged
    # a residual r guarantees an eigenvalue within r (symmetric A); the pair must be the right one
    assert torch.all((result.eigenvalues - ref).abs() <= bound + 1e-12)
    assert torch.all(result.residual_norms <= tol * torch.clamp(result.eigenvalues.abs(), min=result.floor))
    V = result.eigenvectors.double()
    recomputed = torch.linalg.vector_norm(A @ V - V * result.eigenvalues, dim=0)
    torch.testing.assert_close(result.residual_norms, recomputed, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(torch.linalg.vector_norm(V, dim=0), torch.ones(k, dtype=torch.float64))
    # sin(angle) <= r / gap: check vectors whose bound guarantees |cos| >= 1 - 1e-6
    gaps = torch.stack([(lam_all - x).abs().sort().values[1] for x in ref])
    separated = (bound / gaps) <= 1e-3
    cos = (V * U).sum(dim=0).abs()
    assert torch.all(cos[separated] >= 1 - 1e-6)


CASES = [(kind, which) for kind in ("mixed", "clustered") for which in ("LA", "SA", "LM")]
# a PSD spectrum with an exactly repeated zero: single-vector Krylov sees one zero direction, so SA is left out
CASES += [("psd", "LA"), ("psd", "LM")]


@pytest.mark.parametrize("kind,which", CASES)
@pytest.mark.parametrize("tol", [1e-4, 1e-8])
def test_lanczos_matches_eigh(kind: str, which: str, tol: float) -> None:
    A = _matrix(spectrum(kind), seed=2)
    result = lanczos(MatrixOperator(A), 8, which=which, tol=tol)
    check_pairs(A, result, which, tol)
    assert result.method == "lanczos" and result.which == which


def test_sa_finds_the_most_negative() -> None:
    A = _matrix(spectrum("mixed"), seed=3)
    result = lanczos(MatrixOperator(A), 3, which="SA", tol=1e-6)
    torch.testing.assert_close(result.eigenvalues, torch.tensor([-13.1, -9.7, -6.3], dtype=torch.float64))


def test_some_vectors_are_checked() -> None:
    """Guard for check_pairs: the eigenvector assertion is not vacuous on the 'mixed' spectrum."""
    A = _matrix(spectrum("mixed"), seed=2)
    result = lanczos(MatrixOperator(A), 5, tol=1e-8)
    ref, U = reference(A, "LA", 5)
    cos = (result.eigenvectors * U).sum(dim=0).abs()
    assert torch.all(cos >= 1 - 1e-10)


@pytest.mark.parametrize("which,k", [("LA", 120), ("SA", 100), ("LM", 199)])
def test_k_at_least_half_of_n(which: str, k: int) -> None:
    A = _matrix(spectrum("mixed"), seed=4)
    result = lanczos(MatrixOperator(A), k, which=which, tol=1e-6)
    ref, _ = reference(A, which, k)
    assert result.converged and result.k == k
    torch.testing.assert_close(result.eigenvalues, ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("store", [True, False])
def test_small_n_exhaustion_is_exact(store: bool) -> None:
    A = _matrix(torch.tensor([3.0, -1.0, 0.5, 2.0, 7.0], dtype=torch.float64), seed=5)
    result = lanczos(MatrixOperator(A), 5, tol=1e-10, store_products=store)
    assert result.info["exhausted"] and result.converged and result.info["stored_products"] is store
    torch.testing.assert_close(result.eigenvalues, torch.tensor([7.0, 3.0, 2.0, 0.5, -1.0], dtype=torch.float64),
                               rtol=0, atol=1e-12)
    # five Krylov steps; the certificates from the stored products, or five residual products
    assert result.num_matvecs == (5 if store else 5 + 5)


def counting_operator(A: torch.Tensor) -> tuple[FunctionOperator, list[int]]:
    """``A`` as a column-looping FunctionOperator, and the list that grows by one per product."""
    calls: list[int] = []

    def fn(v: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return A @ v

    return FunctionOperator(fn, A.shape[0], A.dtype), calls


@pytest.mark.parametrize("store", [True, False])
def test_num_matvecs_counts_every_product(store: bool) -> None:
    A = _matrix(spectrum("mixed"), seed=6)
    op, calls = counting_operator(A)
    result = lanczos(op, 6, tol=1e-6, store_products=store)
    assert result.num_matvecs == len(calls) == op.num_matvecs
    if store:  # float64: no pair falls within the rounding margin, so no product is spent on certificates
        assert result.info["residual_checks"] == 0 and result.num_matvecs == result.iterations
    else:
        assert result.info["residual_checks"] >= 1
        assert result.num_matvecs == result.iterations + 6 * result.info["residual_checks"]


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_stored_product_certificates_are_true_residuals(which: str) -> None:
    """float32 products: the certificates recombined from stored products match fresh products of the
    returned vectors to the float32 rounding of the products, and the solve equals the one that certifies by
    products (same Krylov steps, same eigenvalues)."""
    A = _matrix(spectrum("mixed"), seed=9)
    A32 = A.float()
    stored = lanczos(MatrixOperator(A32), 6, which=which, tol=1e-4, store_products=True)
    fresh_run = lanczos(MatrixOperator(A32), 6, which=which, tol=1e-4, store_products=False)
    assert stored.converged and fresh_run.converged and stored.info["stored_products"]
    V = stored.eigenvectors
    fresh = torch.linalg.vector_norm((A32 @ V).double() - V.double() * stored.eigenvalues, dim=0)
    eps_norm = torch.finfo(torch.float32).eps * float(torch.linalg.matrix_norm(A, 2))
    assert float((stored.residual_norms - fresh).abs().max()) <= 8 * eps_norm
    assert torch.all(fresh <= 1e-4 * stored.eigenvalues.abs())  # the certificate holds for fresh products
    assert stored.iterations == fresh_run.iterations
    torch.testing.assert_close(stored.eigenvalues, fresh_run.eigenvalues, rtol=1e-6, atol=0)
    ref, _ = reference(A, which, 6)
    torch.testing.assert_close(stored.eigenvalues, ref, rtol=1e-5, atol=0)


def test_stored_products_recheck_pairs_within_the_rounding_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a margin wider than tol every certified pair is borderline: one pass multiplies the returned
    vectors, and the reported residuals are those fresh products."""
    lz = importlib.import_module("hessianlab.curvature.lanczos")  # the package re-exports the function

    monkeypatch.setattr(importlib.import_module("hessianlab.curvature.results"), "ROUNDING_MARGIN", 1e12)
    A32 = _matrix(spectrum("mixed"), seed=8).float()
    op = MatrixOperator(A32)
    result = lz.lanczos(op, 4, tol=1e-4, store_products=True)
    assert result.converged and result.info["residual_checks"] >= 1
    assert result.num_matvecs == result.iterations + 4 * result.info["residual_checks"]
    V = result.eigenvectors
    fresh = torch.linalg.vector_norm((A32 @ V).double() - V.double() * result.eigenvalues, dim=0)
    torch.testing.assert_close(result.residual_norms, fresh, rtol=1e-5, atol=1e-6)


def test_stored_products_default_follows_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    lz = importlib.import_module("hessianlab.curvature.lanczos")  # the package re-exports the function

    A = _matrix(spectrum("mixed"), seed=6)
    assert lz.lanczos(MatrixOperator(A), 3, tol=1e-6).info["stored_products"]
    monkeypatch.setattr(lz, "STORED_PRODUCTS_MAX_BYTES", 8 * N * 10)  # ncv = 35 vectors do not fit
    assert not lz.lanczos(MatrixOperator(A), 3, tol=1e-6).info["stored_products"]


def test_not_converged_when_max_iter_too_small() -> None:
    A = _matrix(spectrum("clustered"), seed=7)
    op = MatrixOperator(A)
    result = lanczos(op, 5, tol=1e-8, max_iter=12)
    assert not result.converged
    assert result.iterations == 12 and result.num_matvecs == 12  # residuals from the stored products
    assert bool((result.relative_residuals > result.tol).any())
    fresh = torch.linalg.vector_norm(A @ result.eigenvectors - result.eigenvectors * result.eigenvalues, dim=0)
    torch.testing.assert_close(result.residual_norms, fresh, rtol=1e-8, atol=1e-12)
    unstored = lanczos(MatrixOperator(A), 5, tol=1e-8, max_iter=12, store_products=False)
    assert unstored.num_matvecs == 12 + 5


def test_float32_operator_float64_basis() -> None:
    A = _matrix(spectrum("mixed"), seed=8)
    seen = set()

    def fn(v: torch.Tensor) -> torch.Tensor:
        seen.add(v.dtype)
        return A.float() @ v

    result = lanczos(FunctionOperator(fn, N, torch.float32), 5, tol=1e-4)
    assert seen == {torch.float32}
    assert result.eigenvectors.dtype == torch.float32 and result.eigenvalues.dtype == torch.float64
    assert result.converged
    ref, _ = reference(A, "LA", 5)
    assert torch.all((result.eigenvalues - ref).abs() <= 1e-4 * ref.abs())


def test_invariant_subspace_breakdown_low_rank() -> None:
    """Rank 3: the Krylov space is invariant after 3 steps; zero eigenvalues are judged against the floor."""
    g = torch.Generator().manual_seed(9)
    X = torch.randn(50, 3, generator=g, dtype=torch.float64)
    A = X @ X.T
    result = lanczos(MatrixOperator(A), 5, tol=1e-8)
    ref, _ = reference(A, "LA", 5)
    assert result.converged
    torch.testing.assert_close(result.eigenvalues, ref, rtol=1e-8, atol=1e-9)


def test_relative_residual_definition_and_json() -> None:
    A = _matrix(spectrum("psd"), seed=10)
    op = MatrixOperator(A)
    result = top_eigenpairs(op, k=4, tol=1e-5)
    expected = result.residual_norms / torch.clamp(result.eigenvalues.abs(), min=result.floor)
    torch.testing.assert_close(result.relative_residuals, expected)
    d = json.loads(json.dumps(result.to_dict()))
    assert d["k"] == 4 and "eigenvectors" not in d and d["operator_settings"]["size"] == N
    with pytest.raises(Exception):
        result.converged = False  # frozen


def test_seeded_runs_are_identical() -> None:
    A = _matrix(spectrum("mixed"), seed=11)
    a = lanczos(MatrixOperator(A), 4, seed=3)
    b = lanczos(MatrixOperator(A), 4, seed=3)
    assert torch.equal(a.eigenvalues, b.eigenvalues) and a.num_matvecs == b.num_matvecs


def test_invalid_arguments() -> None:
    op = MatrixOperator(torch.eye(4, dtype=torch.float64))
    for kwargs in ({"k": 5}, {"k": 0}, {"which": "BE"}, {"tol": 0.0}, {"k": 2, "max_iter": 1}):
        with pytest.raises(ConfigError):
            lanczos(op, **kwargs)
    with pytest.raises(ConfigError):
        top_eigenpairs(op, k=1, method="power", which="SA")


def test_lanczos_tridiagonal_matches_spectrum_when_full() -> None:
    lam = torch.linspace(-2, 3, 12, dtype=torch.float64)
    A = _matrix(lam, seed=12)
    alpha, beta = lanczos_tridiagonal(MatrixOperator(A), torch.ones(12, dtype=torch.float64), 30)
    T = torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)
    torch.testing.assert_close(torch.linalg.eigvalsh(T), lam, rtol=0, atol=1e-10)


def test_start_at_an_eigenvector_breaks_down_and_recovers() -> None:
    """v0 = u_1: the first step is an invariant subspace (β = 0); the solver restarts with a random vector."""
    A = _matrix(spectrum("mixed"), seed=2)
    _, U = reference(A, "LA", 3)
    result = lanczos(MatrixOperator(A), 3, tol=1e-8, v0=U[:, 0])
    check_pairs(A, result, "LA", 1e-8)


@pytest.mark.parametrize("noise", [1e-1, 1e-6, 1e-12])
def test_orthogonalise_reaches_working_precision(noise: float) -> None:
    """One pass suffices for a vector far from the basis; a vector almost inside it (noise 1e-12: one classical
    Gram-Schmidt pass leaves ~1e-4 of its normalised remainder along the basis) gets the second pass from the DGKS
    test."""
    from hessianlab.curvature.lanczos import _orthogonalise

    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(500, 40, generator=g, dtype=torch.float64))[0].T.contiguous()
    c = torch.randn(40, generator=g, dtype=torch.float64)
    w = basis.T @ c + noise * torch.randn(500, generator=g, dtype=torch.float64)
    out, h = _orthogonalise(basis, w)
    unit = out / torch.linalg.vector_norm(out)  # what Lanczos appends to the basis
    assert float((basis @ unit).abs().max()) <= 1e-13
    torch.testing.assert_close(h, basis @ w, rtol=0, atol=1e-12)
    torch.testing.assert_close(out, w - basis.T @ h, rtol=0, atol=1e-12)
