"""FHSM / L2HESS: CG against dense per-sample input Hessians, the non-PSD guard, batch independence."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, hessian, vmap

from hessianlab.attacks import FHSM, L2Hess, batched_cg

D, K, N = 6, 4, 5


def relu_net(seed: int = 0, act: nn.Module | None = None) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(D, 8), act or nn.ReLU(), nn.Linear(8, 8), act or nn.ReLU(), nn.Linear(8, K)).double()


def data(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, D, generator=g, dtype=torch.float64), torch.randint(0, K, (N,), generator=g)


def dense(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample input gradients (N, D) and Hessians (N, D, D) of CE, by torch.func.hessian."""
    params = dict(model.named_parameters())

    def loss(xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, params, (xi[None],))
        return nn.functional.cross_entropy(logits, yi[None])

    return vmap(grad(loss))(x, y).detach(), vmap(hessian(loss))(x, y).detach()


def test_cg_matches_dense_solve_on_relu_net():
    model = relu_net()
    x, y = data()
    g, H = dense(model, x, y)
    mu = 1e-2
    assert bool((torch.linalg.eigvalsh(H) > -1e-10).all())  # Theorem 1: PSD for ReLU networks
    expected = torch.linalg.solve(H + mu * torch.eye(D, dtype=H.dtype), g)
    result = FHSM(0.1, damping=mu, cg_iters=50, cg_tol=1e-10).direction(model, x, y)
    torch.testing.assert_close(result.direction, expected, rtol=1e-6, atol=1e-10)
    torch.testing.assert_close(result.gradient, g, rtol=1e-12, atol=1e-14)
    assert bool(result.cg.converged.all()) and result.num_negative_curvature == 0
    assert result.hvps_per_sample <= K  # rank(H) <= K - 1 (+1 for round-off)


def test_cg_reaches_its_tolerance_and_the_attacks_use_the_solution():
    model = relu_net()
    x, y = data()
    g, H = dense(model, x, y)
    attack = FHSM(0.1)  # defaults: damping 1e-2, 20 iterations, relative residual 1e-3
    d = attack.direction(model, x, y)
    residual = torch.linalg.vector_norm(torch.einsum("nij,nj->ni", H, d.direction) + 1e-2 * d.direction - g, dim=1)
    assert bool(d.cg.converged.all())
    assert bool((residual <= 1e-3 * g.norm(dim=1) * (1 + 1e-6)).all())
    assert bool((d.cg.relative_residual <= 1e-3).all())
    torch.testing.assert_close(attack(model, x, y), (x + 0.1 * d.direction.sign()).clamp(0, 1), rtol=0, atol=1e-15)
    unit = d.direction / d.direction.norm(dim=1, keepdim=True)
    torch.testing.assert_close(L2Hess(0.3)(model, x, y), (x + 0.3 * unit).clamp(0, 1), rtol=0, atol=1e-14)
    assert attack.describe()["damping"] == 1e-2 and attack.describe()["cg_iters"] == 20


def test_direction_per_sample_is_independent_of_the_batch():
    """Block-diagonal HVP and the 'sum' reduction: each sample's direction equals the one computed alone."""
    model = relu_net()
    x, y = data()
    batched = FHSM(0.1, cg_tol=1e-12, cg_iters=30).direction(model, x, y).direction
    for i in range(N):
        alone = FHSM(0.1, cg_tol=1e-12, cg_iters=30).direction(model, x[i : i + 1], y[i : i + 1]).direction
        torch.testing.assert_close(batched[i : i + 1], alone, rtol=1e-8, atol=1e-12)


def test_targeted_direction_descends_the_target_loss():
    model = relu_net()
    x, y = data()
    target = (y + 1) % K
    g, H = dense(model, x, target)
    expected = -torch.linalg.solve(H + 1e-2 * torch.eye(D, dtype=H.dtype), g)
    d = FHSM(0.1, cg_iters=50, cg_tol=1e-10).direction(model, x, y, target=target).direction
    torch.testing.assert_close(d, expected, rtol=1e-6, atol=1e-10)


def _bmv(A: torch.Tensor):
    return lambda v, active: torch.einsum("nij,nj->ni", A, v)


def test_batched_cg_guards_non_psd_and_zero_rhs():
    spd = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    A = torch.stack([spd, -torch.eye(2, dtype=torch.float64), torch.diag(torch.tensor([1.0, -1.0])).double(), spd])
    b = torch.tensor([[1.0, 2.0], [1.0, 1.0], [1.0, 0.5], [0.0, 0.0]], dtype=torch.float64)
    result = batched_cg(_bmv(A), b, max_iters=10, tol=1e-12)
    torch.testing.assert_close(result.solution[0], torch.linalg.solve(spd, b[0]))
    assert result.converged.tolist() == [True, False, False, True]
    assert result.negative_curvature.tolist() == [False, True, True, False]
    torch.testing.assert_close(result.solution[1], b[1])  # hit at iteration 0: gradient direction
    # sample 2: first step is fine (bᵀAb = 0.75 > 0), the second meets negative curvature; keep iterate 1
    first = (b[2] @ b[2]) / (b[2] @ A[2] @ b[2]) * b[2]
    torch.testing.assert_close(result.solution[2], first)
    assert result.iterations.tolist() == [2, 0, 1, 0]
    assert torch.equal(result.solution[3], torch.zeros(2, dtype=torch.float64))


def test_softplus_net_reports_negative_curvature_without_failing():
    """Indefinite input Hessians (softplus): CG stops those samples and FHSM still returns valid examples."""
    model = relu_net(act=nn.Softplus(beta=5.0))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)
    x, y = data()
    x = x.repeat(8, 1)
    y = torch.arange(len(x)) % K
    _, H = dense(model, x, y)
    indefinite = (torch.linalg.eigvalsh(H)[:, 0] < -1e-2 - 1e-9)
    d = FHSM(0.1, damping=1e-2).direction(model, x, y)
    assert int(indefinite.sum()) > 0  # the example is what it claims to be
    assert d.num_negative_curvature > 0
    assert bool(d.direction.isfinite().all())
    x_adv = FHSM(0.1)(model, x, y)
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-12


@pytest.mark.parametrize("cls", [FHSM, L2Hess])
def test_zero_gradient_gives_no_perturbation(cls):
    model = relu_net()
    with torch.no_grad():
        model[-1].weight.zero_()
        model[-1].bias.zero_()
    x, y = data()
    assert torch.equal(cls(0.3)(model, x, y), x)


def test_compaction_on_unconverged_samples_changes_nothing_but_cost():
    """Samples converge at different iterations; the products are then re-linearised on the rest only."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).double()
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(16, 20, generator=g, dtype=torch.float64), torch.randint(0, 10, (16,), generator=g)
    attack = FHSM(0.1, damping=1e-3)
    result = attack.direction(model, x, y)
    assert result.cg.iterations.min() < result.cg.iterations.max()
    assert result.hvps_per_sample < result.cg.matvecs and result.gradients_per_sample > 1  # compaction happened
    gradient, H = dense(model, x, y)
    residual = torch.einsum("nij,nj->ni", H, result.direction) + 1e-3 * result.direction - gradient
    assert bool((residual.norm(dim=1) <= 1e-3 * gradient.norm(dim=1) * (1 + 1e-6)).all())
    alone = torch.cat([attack.direction(model, x[i : i + 1], y[i : i + 1]).direction for i in range(16)])
    torch.testing.assert_close(result.direction, alone, rtol=1e-9, atol=1e-12)
