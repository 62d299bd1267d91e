"""The cached-graph HVP path of ParamHessian: exactness against fwd_rev and the dense Hessian, chunk
weighting, 'auto' selection, matmat/num_matvecs, release, snapshot and the caller's model left untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from hessianlab.curvature import hvp as hvp_module
from hessianlab.curvature.dense import dense_hessian
from hessianlab.curvature.param_hessian import AUTO_MATVEC_METHOD, ParamHessian
from hessianlab.errors import ConfigError

F64 = torch.float64
N = 12


def make_net(kind: str, act: str) -> nn.Module:
    torch.manual_seed(0)
    a = nn.ReLU() if act == "relu" else nn.Softplus(beta=3.0)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(4, 5), a, nn.Linear(5, 3)).double()
    return nn.Sequential(nn.Conv2d(1, 2, 3), a, nn.Flatten(), nn.Linear(18, 3)).double()


def make_data(kind: str, n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    shape = (n, 4) if kind == "mlp" else (n, 1, 5, 5)
    return torch.randn(shape, generator=g, dtype=F64), torch.randint(0, 3, (n,), generator=g)


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(18, 3)).double()
    with torch.no_grad():
        net[1].running_mean.copy_(torch.tensor([0.3, -0.2]))
        net[1].running_var.copy_(torch.tensor([1.5, 0.7]))
    return net


def vec(n: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)


NETS = [("mlp", "relu"), ("mlp", "softplus"), ("cnn", "relu"), ("cnn", "softplus")]


@pytest.mark.parametrize("kind,act", NETS)
def test_cached_equals_fwd_rev_and_dense(kind: str, act: str) -> None:
    net, data = make_net(kind, act), make_data(kind)
    cached = ParamHessian(net, None, data, dtype=F64, hvp_method="cached")
    fwd_rev = ParamHessian(net, None, data, dtype=F64, hvp_method="fwd_rev")
    H = dense_hessian(net, None, data)
    for seed in (2, 3):
        v = vec(cached.size, seed)
        hv = cached.matvec(v)
        torch.testing.assert_close(hv, H @ v, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(hv, fwd_rev.matvec(v), rtol=1e-10, atol=1e-12)
    assert cached.settings["hvp_method_used"] == "cached" and cached.settings["cached_chunks"] == 1


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_explicit_cached_over_chunks_equals_unchunked(kind: str) -> None:
    net, (x, y) = make_net(kind, "softplus"), make_data(kind, n=15)
    v = vec(sum(p.numel() for p in net.parameters()))
    whole = ParamHessian(net, None, (x, y), dtype=F64, hvp_method="cached").matvec(v)
    for chunk in (1, 4, 7):
        op = ParamHessian(net, None, (x, y), chunk_size=chunk, dtype=F64, hvp_method="cached")
        torch.testing.assert_close(op.matvec(v), whole, rtol=0, atol=1e-12)
        assert op.settings["cached_chunks"] == op.num_chunks == -(-15 // chunk)
    sub = ParamHessian(net, None, (x, y), samples=6, seed=3, chunk_size=4, dtype=F64, hvp_method="cached")
    idx = sub.sample_indices
    torch.testing.assert_close(sub.matvec(v), dense_hessian(net, None, (x[idx], y[idx])) @ v, rtol=1e-10, atol=1e-12)


def test_auto_caches_one_chunk_only() -> None:
    net, data = make_net("mlp", "relu"), make_data("mlp")
    v = vec(sum(p.numel() for p in net.parameters()))
    for chunk, used, held in ((None, "cached", 1), (N, "cached", 1), (N + 5, "cached", 1), (5, AUTO_MATVEC_METHOD, 0)):
        op = ParamHessian(net, None, data, chunk_size=chunk, dtype=F64)
        assert op.settings["hvp_method_used"] is None and op.settings["cached_chunks"] is None
        op.matvec(v)
        assert (op.settings["hvp_method_used"], op.settings["cached_chunks"]) == (used, held)
        assert (op._graphs is not None) == (used == "cached")
    op = ParamHessian(net, None, data, dtype=F64)
    op.matmat(torch.eye(op.size, dtype=F64)[:, :2])  # a block as first product resolves the same way
    assert op.settings["hvp_method_used"] == "cached"


def test_auto_falls_back_when_double_backward_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, v: object) -> None:
        raise RuntimeError("double backward not implemented")

    net, data = make_net("cnn", "softplus"), make_data("cnn")
    op = ParamHessian(net, None, data, dtype=F64)
    v = vec(op.size)
    monkeypatch.setattr(hvp_module.GradientGraph, "hvp", broken)
    hv = op.matvec(v)
    assert op.settings["hvp_method_used"] == "fwd_rev" and op._graphs is None
    torch.testing.assert_close(hv, dense_hessian(net, None, data) @ v, rtol=1e-10, atol=1e-12)
    with pytest.raises(RuntimeError):
        ParamHessian(net, None, data, dtype=F64, hvp_method="cached").matvec(v)


def test_matmat_equals_stacked_matvecs_and_counts() -> None:
    net, data = make_net("cnn", "relu"), make_data("cnn")
    for kw in ({"hvp_method": "cached", "chunk_size": 5}, {}):
        op = ParamHessian(net, None, data, dtype=F64, **kw)
        V = torch.stack([vec(op.size, s) for s in range(3)], dim=1)
        HV = op.matmat(V)
        assert op.num_matvecs == 3
        cols = torch.stack([op.matvec(V[:, j]) for j in range(3)], dim=1)
        assert op.num_matvecs == 6
        torch.testing.assert_close(HV, cols, rtol=0, atol=1e-13)
        op.matvec(V[:, 0]), op @ V[:, :2]
        assert op.num_matvecs == 9 and op.settings["hvp_method_used"] == "cached"


def test_release_rebuilds_and_operator_is_a_snapshot() -> None:
    net, data = make_net("mlp", "softplus"), make_data("mlp")
    op = ParamHessian(net, None, data, dtype=F64, hvp_method="cached")
    v = vec(op.size)
    before = op.matvec(v)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    torch.testing.assert_close(op.matvec(v), before, rtol=0, atol=0)
    op.release()
    assert op._graphs is None
    torch.testing.assert_close(op.matvec(v), before, rtol=0, atol=0)  # rebuilt from the snapshot
    assert op._graphs is not None and op.num_matvecs == 3


class _PartlyUsed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used, self.unused = nn.Linear(4, 3), nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def test_unused_parameter_gives_zero_rows() -> None:
    torch.manual_seed(0)
    net = _PartlyUsed().double()
    data = make_data("mlp")
    op = ParamHessian(net, None, data, dtype=F64, hvp_method="cached")
    hv = op.unflatten(op.matvec(vec(op.size)))
    assert hv["unused.weight"].abs().max() == 0 and hv["unused.bias"].abs().max() == 0
    ref = ParamHessian(net, None, data, dtype=F64, hvp_method="fwd_rev").matvec(vec(op.size))
    torch.testing.assert_close(op.flatten(hv), ref, rtol=1e-10, atol=1e-12)


def test_batchnorm_modes_float32_and_caller_model_untouched() -> None:
    net, d = bn_net(), (torch.randn(8, 1, 5, 5, dtype=F64), torch.randint(0, 3, (8,)))
    net.train()
    net[1].eval()
    for p in net.parameters():
        p.grad = torch.full_like(p, 7.0)
    state = {k: t.clone() for k, t in net.state_dict().items()}
    flags = [m.training for m in net.modules()]
    for mode, chunk in (("eval", 3), ("eval", None), ("train", None)):
        H = dense_hessian(net, None, d, mode=mode)
        for dtype, rtol, atol in ((F64, 1e-10, 1e-12), (torch.float32, 1e-4, 1e-5)):
            method = "cached" if chunk else "auto"
            op = ParamHessian(net, None, d, mode=mode, chunk_size=chunk, dtype=dtype, hvp_method=method)
            v = vec(op.size)
            hv = op.matvec(v.to(dtype))
            assert hv.dtype == dtype and op.settings["hvp_method_used"] == "cached"
            torch.testing.assert_close(hv.double(), H @ v, rtol=rtol, atol=atol)
            op.matmat(torch.ones(op.size, 2, dtype=dtype))
            assert [m.training for m in net.modules()] == flags
            assert all(torch.equal(t, state[k]) for k, t in net.state_dict().items())
            assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in net.parameters())
            assert next(net.parameters()).dtype == F64
    with pytest.raises(ConfigError, match="BatchNorm"):
        ParamHessian(net, None, d, mode="train", chunk_size=3, hvp_method="cached")
