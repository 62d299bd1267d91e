"""Parameter-space HVPs against exact oracles (dense torch.func.hessian, finite differences), float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from hessianlab.curvature.dense import dense_hessian
from hessianlab.curvature.param_hessian import (
    AUTO_BLOCK_METHOD, AUTO_MATVEC_METHOD, ParamHessian, gradient, loss, loss_and_gradient,
)

N = 12


def make_net(kind: str, act: str) -> nn.Module:
    torch.manual_seed(0)
    a = nn.ReLU() if act == "relu" else nn.Softplus(beta=3.0)
    if kind == "mlp":
        net = nn.Sequential(nn.Linear(4, 5), a, nn.Linear(5, 3))
    else:
        net = nn.Sequential(nn.Conv2d(1, 2, 3), a, nn.Flatten(), nn.Linear(18, 3))
    return net.double()


def make_data(kind: str, n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    shape = (n, 4) if kind == "mlp" else (n, 1, 5, 5)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


NETS = [("mlp", "relu"), ("mlp", "softplus"), ("cnn", "relu"), ("cnn", "softplus")]


def rand_vec(n: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("kind,act", NETS)
@pytest.mark.parametrize("method", ["fwd_rev", "double_backward"])
def test_hvp_equals_dense_hessian(kind: str, act: str, method: str) -> None:
    net, data = make_net(kind, act), make_data(kind)
    op = ParamHessian(net, None, data, dtype=torch.float64, hvp_method=method)
    H = dense_hessian(net, None, data)
    assert H.shape == (op.size, op.size) and torch.allclose(H, H.T, atol=1e-12)
    v = rand_vec(op.size)
    torch.testing.assert_close(op.matvec(v), H @ v, rtol=1e-10, atol=1e-12)
    V = torch.stack([rand_vec(op.size, s) for s in range(3)], dim=1)
    torch.testing.assert_close(op.matmat(V), H @ V, rtol=1e-10, atol=1e-12)
    assert op.num_matvecs == 4


@pytest.mark.parametrize("kind,act", NETS)
def test_hvp_equals_central_difference_of_gradients(kind: str, act: str) -> None:
    """(g(θ + h v) - g(θ - h v)) / 2h = H v + O(h²); ReLU kinks are crossed with probability ~0 at h=1e-5."""
    net, data = make_net(kind, act), make_data(kind)
    op = ParamHessian(net, None, data, dtype=torch.float64)
    v = rand_vec(op.size)
    h = 1e-5
    grads = []
    for sign in (1, -1):
        shifted = make_net(kind, act)
        with torch.no_grad():
            for p, dp in zip(shifted.parameters(), op.unflatten(v).values()):
                p.add_(sign * h * dp)
        grads.append(gradient(ParamHessian(shifted, None, data, dtype=torch.float64)))
    fd = (grads[0] - grads[1]) / (2 * h)
    torch.testing.assert_close(op.matvec(v), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_chunk_size_does_not_change_products(kind: str) -> None:
    net, data = make_net(kind, "softplus"), make_data(kind, n=15)
    v = rand_vec(sum(p.numel() for p in net.parameters()))
    outs = [ParamHessian(net, None, data, chunk_size=c, dtype=torch.float64).matvec(v) for c in (1, 7, None)]
    grads = [gradient(ParamHessian(net, None, data, chunk_size=c, dtype=torch.float64)) for c in (1, 7, None)]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=0, atol=1e-12)
    for g in grads[1:]:
        torch.testing.assert_close(g, grads[0], rtol=0, atol=1e-12)
    # the result must depend on which samples are used: a weighting bug would show here
    half = ParamHessian(net, None, (data[0][:7], data[1][:7]), dtype=torch.float64).matvec(v)
    assert (half - outs[0]).abs().max() > 1e-6


def test_subsampled_hessian_equals_dense_on_subset() -> None:
    net, (x, y) = make_net("mlp", "softplus"), make_data("mlp", n=20)
    op = ParamHessian(net, None, (x, y), samples=6, seed=3, chunk_size=4, dtype=torch.float64)
    idx = op.sample_indices
    assert idx.numel() == 6 and idx.unique().numel() == 6 and op.settings["samples"] == 6
    again = ParamHessian(net, None, (x, y), samples=6, seed=3, dtype=torch.float64).sample_indices
    assert torch.equal(idx, again)
    v = rand_vec(op.size)
    torch.testing.assert_close(op.matvec(v), dense_hessian(net, None, (x[idx], y[idx])) @ v, rtol=1e-10, atol=1e-12)
    explicit = [0, 3, 4, 17]
    op2 = ParamHessian(net, None, (x, y), samples=explicit, chunk_size=3, dtype=torch.float64)
    H2 = dense_hessian(net, None, (x, y), samples=explicit)
    torch.testing.assert_close(H2, dense_hessian(net, None, (x[explicit], y[explicit])))
    torch.testing.assert_close(op2.matvec(v), H2 @ v, rtol=1e-10, atol=1e-12)


def test_block_hessian_is_sub_block_of_dense() -> None:
    net, data = make_net("cnn", "softplus"), make_data("cnn")
    H = dense_hessian(net, None, data)
    op = ParamHessian(net, None, data, params=r"^3\.", dtype=torch.float64)  # the final Linear
    assert op.param_names == ("3.weight", "3.bias") and op.param_shapes == ((3, 18), (3,))
    start = sum(p.numel() for n, p in net.named_parameters() if n.startswith("0."))
    block = H[start:, start:]
    v = rand_vec(op.size)
    torch.testing.assert_close(op.matvec(v), block @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(dense_hessian(net, None, data, params=["3.weight", "3.bias"]), block)
    names_op = ParamHessian(net, None, data, params=["0.bias"], dtype=torch.float64)
    b0 = sum(p.numel() for n, p in net.named_parameters() if n == "0.weight")
    torch.testing.assert_close(names_op.matvec(torch.ones(2, dtype=torch.float64)), H[b0 : b0 + 2, b0 : b0 + 2].sum(1))
    d = op.unflatten(v)
    assert set(d) == {"3.weight", "3.bias"} and torch.equal(op.flatten(d), v)


def test_gradient_and_loss_match_autograd() -> None:
    net, (x, y) = make_net("cnn", "relu"), make_data("cnn")
    op = ParamHessian(net, None, (x, y), chunk_size=5, dtype=torch.float64)
    ref_net = make_net("cnn", "relu")
    ref = F.cross_entropy(ref_net(x), y)
    ref_grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(ref, list(ref_net.parameters()))])
    value, g = loss_and_gradient(op)
    assert abs(value - ref.item()) < 1e-12 and abs(loss(op) - ref.item()) < 1e-12
    torch.testing.assert_close(g, ref_grad, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(gradient(op), ref_grad, rtol=1e-12, atol=1e-13)


class _Square(torch.autograd.Function):
    """Old-style autograd.Function (no setup_context): unusable under torch.func transforms."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return 2 * x * g


class _SquareNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 5), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(_Square.apply(self.fc1(x)))


def test_auto_falls_back_to_double_backward_and_records_it() -> None:
    torch.manual_seed(0)
    net, data = _SquareNet().double(), make_data("mlp")
    auto = ParamHessian(net, None, data, dtype=torch.float64, chunk_size=5)  # several chunks: no cache
    assert auto.settings["hvp_method_used"] is None
    v = rand_vec(auto.size)
    hv = auto.matvec(v)
    assert auto.settings["hvp_method_used"] == "double_backward"
    with pytest.raises(RuntimeError):
        ParamHessian(net, None, data, dtype=torch.float64, hvp_method="fwd_rev").matvec(v)
    # central difference oracle (the map is smooth)
    h, base = 1e-5, [p.detach().clone() for p in net.parameters()]
    grads = []
    for sign in (1, -1):
        with torch.no_grad():
            for p, b, dp in zip(net.parameters(), base, auto.unflatten(v).values()):
                p.copy_(b + sign * h * dp)
        grads.append(gradient(ParamHessian(net, None, data, dtype=torch.float64)))
    with torch.no_grad():
        for p, b in zip(net.parameters(), base):
            p.copy_(b)
    torch.testing.assert_close(hv, (grads[0] - grads[1]) / (2 * h), rtol=1e-6, atol=1e-8)
    V = torch.stack([v, 2 * v], dim=1)
    torch.testing.assert_close(auto.matmat(V), torch.stack([hv, 2 * hv], dim=1))


def test_auto_resolves_to_the_measured_defaults_on_plain_nets() -> None:
    net, data = make_net("mlp", "relu"), make_data("mlp")
    op = ParamHessian(net, None, data, dtype=torch.float64, chunk_size=5)  # one chunk would be 'cached'
    op.matmat(torch.eye(op.size, dtype=torch.float64)[:, :2])
    assert (op.settings["hvp_method_used"], op.settings["block_method_used"]) == (None, AUTO_BLOCK_METHOD)
    op.matvec(torch.ones(op.size, dtype=torch.float64))
    assert op.settings["hvp_method_used"] == AUTO_MATVEC_METHOD


def test_float32_path() -> None:
    net, (x, y) = make_net("cnn", "softplus"), make_data("cnn")
    net32 = make_net("cnn", "softplus").float()
    op = ParamHessian(net32, None, (x.float(), y), chunk_size=5)
    assert op.dtype == torch.float32 and op.settings["dtype"] == "float32"
    v = rand_vec(op.size)
    hv = op.matvec(v.float())
    assert hv.dtype == torch.float32
    ref = dense_hessian(net, None, (x, y)) @ v
    torch.testing.assert_close(hv.double(), ref, rtol=1e-4, atol=1e-5)
    assert gradient(op).dtype == torch.float32
    # a float32 model evaluated in float64: the model itself is not cast
    op64 = ParamHessian(net32, None, (x.float(), y), dtype=torch.float64)
    assert next(net32.parameters()).dtype == torch.float32 and op64.matvec(v).dtype == torch.float64
