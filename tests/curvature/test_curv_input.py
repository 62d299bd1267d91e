"""Input-space Hessians: batched vs per-sample loop, Gauss-Newton decomposition, λ1, Theorem-1 report."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hessianlab.curvature.dense import dense_input_hessian
from hessianlab.curvature.input_hessian import (
    InputHessian, batched_lanczos, input_ggn, input_gradient, input_top_eigenvalue,
)
from hessianlab.curvature.input_stats import Summary, input_stats, theorem1_check

F64 = torch.float64


def cnn(act: str, bn: bool = False) -> nn.Module:
    torch.manual_seed(0)
    a = nn.ReLU() if act == "relu" else nn.Softplus(beta=2.0)
    layers = [nn.Conv2d(1, 3, 3), *( [nn.BatchNorm2d(3)] if bn else []), a, nn.MaxPool2d(2), nn.Flatten(),
              nn.Linear(12, 8), a, nn.Linear(8, 4)]
    net = nn.Sequential(*layers).double()
    if bn:
        with torch.no_grad():
            net[1].running_mean.copy_(torch.tensor([0.1, -0.2, 0.3]))
            net[1].running_var.copy_(torch.tensor([0.5, 2.0, 1.2]))
    return net.eval()


def data(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 1, 6, 6, generator=g, dtype=F64), torch.randint(0, 4, (n,), generator=g)


@pytest.mark.parametrize("act,bn", [("relu", False), ("softplus", False), ("softplus", True)])
def test_batched_input_hessian_equals_per_sample_loop(act: str, bn: bool) -> None:
    net, (x, y) = cnn(act, bn), data()
    ref_grads = []
    for i in range(6):  # eval-mode per-sample reference gradients
        xi = x[i : i + 1].clone().requires_grad_(True)
        ref_grads.append(torch.autograd.grad(F.cross_entropy(net(xi), y[i : i + 1]), xi)[0])
    net.train()  # the operator must run in eval mode regardless (BN batch coupling otherwise)
    loop = dense_input_hessian(net, None, x, y)
    op = InputHessian(net, None, x, y)
    torch.testing.assert_close(op.dense(block=7), loop, rtol=1e-10, atol=1e-12)
    V = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    expect = torch.einsum("nij,nj->ni", loop, V.reshape(6, -1)).reshape(x.shape)
    torch.testing.assert_close(op.hvp_batch(V), expect, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(op.matvec(V.reshape(-1)), expect.reshape(-1), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(input_gradient(net, x, y), torch.cat(ref_grads), rtol=1e-10, atol=1e-13)
    assert all(m.training for m in net.modules())


def test_relu_input_hessian_is_gauss_newton_softplus_is_not() -> None:
    x, y = data()
    relu_H, relu_G = dense_input_hessian(cnn("relu"), None, x, y), input_ggn(cnn("relu"), x, y)
    torch.testing.assert_close(relu_H, relu_G, rtol=1e-9, atol=1e-12)
    assert relu_H.abs().max() > 1e-3  # non-trivial
    soft_H, soft_G = dense_input_hessian(cnn("softplus"), None, x, y), input_ggn(cnn("softplus"), x, y)
    assert (soft_H - soft_G).abs().max() > 1e-4 * soft_H.abs().max()
    # GGN explicitly from per-sample Jacobians and softmax Hessians
    net = cnn("softplus")
    for i in range(2):
        J = torch.autograd.functional.jacobian(lambda v: net(v.view(1, 1, 6, 6))[0], x[i].reshape(-1))
        p = torch.softmax(net(x[i : i + 1])[0], 0).detach()
        torch.testing.assert_close(soft_G[i], J.T @ (torch.diag(p) - torch.outer(p, p)) @ J, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", ["relu", "softplus"])
def test_top_eigenvalue_matches_eigh_per_sample(act: str) -> None:
    net, (x, y) = cnn(act), data()
    dense = dense_input_hessian(net, None, x, y)
    res = input_top_eigenvalue(net, x, y, iters=36, tol=1e-8)
    expect = torch.linalg.eigvalsh(dense)[:, -1]
    torch.testing.assert_close(res.eigenvalues, expect, rtol=1e-9, atol=1e-12)
    assert res.converged.all() and res.eigenvalues.shape == (6,) and res.eigenvectors.shape == x.shape
    Hv = torch.einsum("nij,nj->ni", dense, res.eigenvectors.reshape(6, -1))
    lv = res.eigenvalues[:, None] * res.eigenvectors.reshape(6, -1)
    torch.testing.assert_close((Hv - lv).norm(dim=1), res.residual_norms, rtol=1e-6, atol=1e-12)
    assert res.settings["mode"] == "eval" and res.settings["iters"] == 36
    few = input_top_eigenvalue(net, x, y, iters=1, tol=1e-12)  # one step cannot converge: flags say so
    assert not few.converged.all() and few.num_steps == 1


def test_batched_lanczos_handles_breakdown_and_indefinite_spectra() -> None:
    g = torch.Generator().manual_seed(0)
    Q = torch.linalg.qr(torch.randn(3, 10, 10, generator=g, dtype=F64)).Q
    lam = torch.zeros(3, 10, dtype=F64)
    lam[0, :4], lam[0, 4:] = -5.0, -1.0  # two distinct negative eigenvalues: padding must not win
    lam[1] = torch.linspace(-3, 2, 10, dtype=F64)
    A = Q @ torch.diag_embed(lam) @ Q.transpose(1, 2)
    ritz = batched_lanczos(lambda v: torch.einsum("nij,nj->ni", A, v), torch.randn(3, 10, generator=g, dtype=F64), 10, 1e-10)
    assert ritz.invariant[0] and ritz.invariant[2] and ritz.krylov_dim[0] == 2 and ritz.krylov_dim[2] == 1
    assert torch.isclose(ritz.values[0].nan_to_num(-99).amax(), torch.tensor(-1.0, dtype=F64))
    assert torch.isclose(ritz.values[1, -1], torch.tensor(2.0, dtype=F64))
    assert ritz.values[2, -1] == 0 and ritz.values[0].isnan().sum() == 8


def test_theorem1_report_relu_low_rank_softplus_full_rank() -> None:
    x, y = data()
    rep = theorem1_check(cnn("relu"), x, y)
    assert rep.method == "dense" and rep.num_classes == 4 and rep.rank_le_classes.all()
    assert (rep.rank <= 3).all() and rep.summary["fraction_psd"] == 1.0  # softmax Hessian has rank C - 1
    soft = theorem1_check(cnn("softplus"), x, y)
    assert (soft.rank > 4).all() and not soft.rank_le_classes.any() and soft.summary["fraction_rank_le_classes"] == 0
    assert (soft.ratio < 0).all()  # indefinite: the checker reports, it does not assume
    lz = theorem1_check(cnn("relu"), x, y, method="lanczos", lanczos_steps=36)
    torch.testing.assert_close(lz.eig_max, rep.eig_max, rtol=1e-8, atol=1e-12)
    assert torch.equal(lz.rank[lz.rank_exact], rep.rank[lz.rank_exact]) and lz.rank_exact.any()


def test_theorem1_roundoff_floor_on_confident_samples() -> None:
    """A ReLU net whose logits are scaled up classifies confidently: H_ℓ = diag(p) - ppᵀ is far below float64
    roundoff relative to ||J||², so a purely relative PSD test reports roundoff as indefiniteness."""
    x, y = data()
    net = cnn("relu")
    with torch.no_grad():
        net[-1].weight.mul_(200.0)
        net[-1].bias.mul_(200.0)
    rep = theorem1_check(net, x, y)
    assert not (rep.eig_min >= -rep.rtol * rep.eig_max.abs()).any()  # the relative test alone fails everywhere
    assert rep.summary["fraction_psd"] == 1.0 and rep.rank_le_classes.all()
    assert (rep.floor > 0).all() and (rep.eig_min.abs() <= torch.maximum(rep.rtol * rep.eig_max, rep.floor)).all()
    # the floor is a roundoff level, not a loophole: it stays far below the curvature of the softplus net
    soft = theorem1_check(cnn("softplus"), x, y)
    assert (soft.floor < 1e-8 * soft.eig_max.abs()).all() and soft.summary["fraction_psd"] == 0


def test_input_stats_summaries_and_float32() -> None:
    net, (x, y) = cnn("relu"), data(10)
    st = input_stats(net.float(), (x.float(), y), batch_size=4, iters=36, tol=1e-3)
    ref = input_top_eigenvalue(net, x.float(), y, iters=36, tol=1e-3, dtype=F64).eigenvalues
    assert st.eigenvalues.dtype == torch.float32
    torch.testing.assert_close(st.eigenvalues.double(), ref, rtol=1e-3, atol=1e-5)
    g = input_gradient(net, x.float(), y, dtype=F64).reshape(10, -1).norm(dim=1)
    torch.testing.assert_close(st.grad_norms.double(), g, rtol=1e-4, atol=1e-7)
    s = st.eigenvalue_summary
    assert s == Summary.of(st.eigenvalues) and s.q10 <= s.median <= s.q90
    assert abs(st.grad_norm_summary.mean - float(g.mean())) < 1e-4 * float(g.mean())
    sub = input_stats(net, (x.float(), y), batch_size=3, samples=5, seed=1)
    assert sub.eigenvalues.shape == (5,) and sub.settings["samples"] == 5
