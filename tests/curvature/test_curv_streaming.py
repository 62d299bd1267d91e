"""Operators over loaders and any loss: the same operator from tensors, a Dataset-like pair and a DataLoader
(any batch size, shuffled or not); regression and closure losses against dense float64 Hessians; the
user-mistake errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from hessianlab.curvature import GGN, BatchLoss, ParamHessian, dense_hessian, gradient, input_stats, loss
from hessianlab.curvature.params import param_spec
from hessianlab.errors import ConfigError

F64 = torch.float64
N = 13


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Softplus(beta=3.0), nn.Flatten(), nn.Linear(18, 3)).double()


def images(n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 5, 5, generator=g, dtype=F64), torch.randint(0, 3, (n,), generator=g)


def vec(n: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("batch_size", [1, 4, 13])
@pytest.mark.parametrize("shuffle", [False, True])
def test_dataloader_gives_the_tensor_operator(batch_size: int, shuffle: bool) -> None:
    net, (x, y) = cnn(), images()
    torch.manual_seed(5)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)
    H = dense_hessian(net, None, (x, y))
    v = vec(H.shape[0])
    V = torch.stack([vec(H.shape[0], s) for s in range(3)], dim=1)
    for method in ("fwd_rev", "double_backward", "auto"):
        op = ParamHessian(net, None, loader, dtype=F64, hvp_method=method)
        assert op.settings["data"] == "loader" and op.settings["N"] == N
        torch.testing.assert_close(op.matvec(v), H @ v, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(op.matmat(V), H @ V, rtol=1e-10, atol=1e-12)
    ref = ParamHessian(net, None, (x, y), dtype=F64, chunk_size=4)
    op = ParamHessian(net, None, loader, dtype=F64)
    torch.testing.assert_close(gradient(op), gradient(ref), rtol=1e-12, atol=1e-14)
    assert abs(loss(op) - loss(ref)) < 1e-12
    G = GGN(net, None, loader, dtype=F64)
    torch.testing.assert_close(G.matmat(V), GGN(net, None, (x, y), dtype=F64).matmat(V), rtol=1e-10, atol=1e-12)


def test_regression_mlp_with_mse_matches_dense_hessian() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    g = torch.Generator().manual_seed(3)
    x, t = torch.randn(11, 3, generator=g, dtype=F64), torch.randn(11, 2, generator=g, dtype=F64)
    H = dense_hessian(net, F.mse_loss, (x, t))
    v = vec(H.shape[0])
    loader = DataLoader(TensorDataset(x, t), batch_size=3, shuffle=True)
    for data, kw in (((x, t), {"chunk_size": 4}), (loader, {})):
        op = ParamHessian(net, F.mse_loss, data, dtype=F64, **kw)
        torch.testing.assert_close(op.matvec(v), H @ v, rtol=1e-10, atol=1e-12)
    # the GGN of a squared loss: 2/(n d) Jᵀ J, PSD; its quadratic form is ||J v||² scaled
    G = GGN(net, F.mse_loss, (x, t), dtype=F64)
    jv = torch.func.jvp(lambda *p: torch.func.functional_call(net, dict(zip(param_spec(net).names, p)), (x,)),
                        tuple(p.detach() for p in net.parameters()), tuple(G.unflatten(v).values()))[1]
    torch.testing.assert_close(v @ G.matvec(v), 2 * jv.pow(2).sum() / jv.numel(), rtol=1e-10, atol=1e-12)


class TwoInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.head = nn.Linear(3, 4), nn.Linear(2, 4), nn.Linear(4, 1)

    def forward(self, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.a(u)) * torch.sigmoid(self.b(w))).squeeze(1)


def pair_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    return F.mse_loss(model(batch["u"], batch["w"]), batch["target"])


def test_two_input_model_with_a_batch_loss_matches_dense_hessian() -> None:
    net = TwoInput().double()
    g = torch.Generator().manual_seed(4)
    u, w, t = (torch.randn(10, d, generator=g, dtype=F64) for d in (3, 2, 1))
    t = t[:, 0]
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def full_loss(flat: torch.Tensor) -> torch.Tensor:
        params = dict(zip(names, (c.view(s) for c, s in zip(flat.split([s.numel() for s in shapes]), shapes))))
        return F.mse_loss(torch.func.functional_call(net, params, (u, w)), t)

    H = torch.autograd.functional.hessian(full_loss, flat0)
    batches = [{"u": u[i:i + 4], "w": w[i:i + 4], "target": t[i:i + 4]} for i in range(0, 10, 4)]
    V = torch.stack([vec(H.shape[0], s) for s in range(4)], dim=1)
    with pytest.raises(RuntimeError, match="ZeroTensors"):  # torch 2.13: no forward-over-reverse of mse_loss
        ParamHessian(net, BatchLoss(pair_loss), batches, dtype=F64, hvp_method="fwd_rev").matvec(V[:, 0])
    for method in ("double_backward", "auto"):
        op = ParamHessian(net, BatchLoss(pair_loss), batches, dtype=F64, hvp_method=method)
        assert op.settings["loss"] == "pair_loss" and op.num_samples == 10
        torch.testing.assert_close(op.matvec(V[:, 0]), H @ V[:, 0], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(op.matmat(V), H @ V, rtol=1e-10, atol=1e-12)
    assert abs(loss(op) - float(full_loss(flat0))) < 1e-12


def test_user_mistakes_are_one_config_error() -> None:
    net, (x, y) = cnn(), images()
    v = vec(sum(p.numel() for p in net.parameters()))
    for method in ("fwd_rev", "double_backward", "cached"):
        op = ParamHessian(net, lambda z, t: F.cross_entropy(z, t, reduction="none"), (x, y), hvp_method=method,
                          dtype=F64)
        with pytest.raises(ConfigError, match="not a scalar; use reduction='mean'"):
            op.matvec(v)
    with pytest.raises(ConfigError, match="not a tensor"):
        loss(ParamHessian(net, BatchLoss(lambda m, b: 1.0), [(x, y)], dtype=F64))
    with pytest.raises(ConfigError, match="selects no parameter"):
        ParamHessian(net, None, (x, y), params=r"^nothing")
    frozen = cnn().requires_grad_(False)
    with pytest.raises(ConfigError, match="no parameter with requires_grad=True"):
        ParamHessian(frozen, None, (x, y))
    assert ParamHessian(frozen, None, (x, y), params=r"^3\.").size == 57  # an explicit block of frozen ones
    with pytest.raises(ConfigError, match="GGN needs loss_fn"):
        GGN(net, BatchLoss(pair_loss), [(x, y)])
    with pytest.raises(ConfigError, match="BatchLoss"):
        ParamHessian(net, None, [{"x": x, "y": y}])


def test_only_trainable_parameters_by_default() -> None:
    net, (x, y) = cnn(), images()
    net[0].requires_grad_(False)
    op = ParamHessian(net, None, (x, y), dtype=F64)
    assert op.param_names == ("3.weight", "3.bias")
    H = dense_hessian(net, None, (x, y), params=["3.weight", "3.bias"])
    v = vec(op.size)
    torch.testing.assert_close(op.matvec(v), H @ v, rtol=1e-10, atol=1e-12)


def test_augmenting_loader_is_refused_at_its_first_product() -> None:
    net, (x, y) = cnn(), images()
    gen = torch.Generator().manual_seed(0)
    op = ParamHessian(net, None, lambda: iter([(x + 0.1 * torch.randn(x.shape, generator=gen, dtype=F64), y)]),
                      dtype=F64, hvp_method="fwd_rev")
    with pytest.raises(ConfigError, match="other samples than on its first pass"):
        op.matvec(vec(op.size))


def test_input_stats_from_a_loader_equals_tensors() -> None:
    net, (x, y) = cnn(), images()
    ref = input_stats(net, (x, y), batch_size=4, dtype=F64, iters=30, tol=1e-10)
    got = input_stats(net, DataLoader(TensorDataset(x, y), batch_size=6), batch_size=4, dtype=F64, iters=30, tol=1e-10)
    torch.testing.assert_close(got.eigenvalues, ref.eigenvalues, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got.grad_norms, ref.grad_norms, rtol=1e-12, atol=1e-14)
    assert got.settings["samples"] == ref.settings["samples"] == N
