"""GGN / residual operators, data semantics (modes, BatchNorm, Dropout), parameter selection and the
promise that the caller's model (mode per submodule, parameters, buffers, .grad) is left untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, hessian, jacrev

from hessianlab.curvature.dense import dense_hessian
from hessianlab.curvature.ggn import GGN, ResidualCurvature, hessian_and_ggn
from hessianlab.curvature.input_hessian import input_gradient, input_top_eigenvalue
from hessianlab.curvature.modes import model_mode
from hessianlab.curvature.param_hessian import ParamHessian, gradient, loss
from hessianlab.curvature.params import param_spec, select_param_names
from hessianlab.errors import ConfigError

F64 = torch.float64


def mlp(act: nn.Module | None = None) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), act or nn.Softplus(beta=2.0), nn.Linear(6, 3)).double()


def bn_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(18, 3)).double()
    with torch.no_grad():  # non-trivial running statistics, so eval and train differ
        net[1].running_mean.copy_(torch.tensor([0.3, -0.2]))
        net[1].running_var.copy_(torch.tensor([1.5, 0.7]))
    return net


def data(n: int = 10, shape: tuple[int, ...] = (4,)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn((n, *shape), generator=g, dtype=F64), torch.randint(0, 3, (n,), generator=g)


def vec(n: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)


def dense_ggn(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Jᵀ H_ℓ J from torch.func.jacrev (J: logits w.r.t. flat params) and hessian (ℓ w.r.t. logits)."""
    spec = param_spec(net)
    flat = spec.flatten({n: p.detach() for n, p in net.named_parameters()})
    J = jacrev(lambda w: functional_call(net, spec.unflatten(w), (x,)))(flat).reshape(-1, spec.size)
    z = net(x).detach()
    Hl = hessian(lambda out: F.cross_entropy(out.reshape(z.shape), y))(z.reshape(-1))
    return J.T @ Hl @ J


@pytest.mark.parametrize("act", [nn.ReLU(), nn.Softplus(beta=2.0)])
def test_ggn_matches_dense_jt_hl_j_and_residual(act: nn.Module) -> None:
    net, (x, y) = mlp(act), data()
    G = dense_ggn(net, x, y)
    pair = hessian_and_ggn(net, None, (x, y), chunk_size=3, dtype=F64)
    v = vec(pair.ggn.size)
    torch.testing.assert_close(pair.ggn.matvec(v), G @ v, rtol=1e-10, atol=1e-12)
    V = torch.stack([vec(pair.ggn.size, s) for s in range(3)], 1)
    torch.testing.assert_close(pair.ggn.matmat(V), G @ V, rtol=1e-10, atol=1e-12)
    H = dense_hessian(net, None, (x, y))
    torch.testing.assert_close(pair.residual.matvec(v), (H - G) @ v, rtol=1e-9, atol=1e-12)
    assert torch.linalg.eigvalsh(G).min() > -1e-12  # GGN of cross-entropy is PSD
    # H - G is the network's own curvature: non-zero overall (W1-W2 cross terms), but on the first-layer
    # block it vanishes exactly for ReLU (piecewise linear in W1, b1) and not for softplus
    assert (H - G).abs().max() > 1e-4
    first = (H - G)[:30, :30].abs().max()
    assert first > 1e-4 if isinstance(act, nn.Softplus) else first < 1e-12


def test_residual_refuses_mismatched_operators() -> None:
    net, d = mlp(), data()
    with pytest.raises(ConfigError):
        ResidualCurvature(ParamHessian(net, None, d, samples=5, dtype=F64), GGN(net, None, d, samples=4, dtype=F64))


def test_model_mode_restores_mixed_flags_even_on_error() -> None:
    net = bn_net().train()
    net[1].eval()  # frozen BN inside a training model
    flags = [m.training for m in net.modules()]
    with model_mode(net, "eval"):
        assert not any(m.training for m in net.modules())
    assert [m.training for m in net.modules()] == flags
    with pytest.raises(KeyError), model_mode(net, "train"):
        assert all(m.training for m in net.modules())
        raise KeyError
    assert [m.training for m in net.modules()] == flags
    with pytest.raises(ConfigError):
        with model_mode(net, "inference"):  # type: ignore[arg-type]
            pass


def test_batchnorm_train_mode_rules() -> None:
    net, d = bn_net(), data(8, (1, 5, 5))
    with pytest.raises(ConfigError, match="BatchNorm"):
        ParamHessian(net, None, d, mode="train", chunk_size=3)
    ParamHessian(net, None, d, mode="train", chunk_size=8)  # one chunk: allowed
    eval_op = ParamHessian(net, None, d, mode="eval", chunk_size=3, dtype=F64)
    train_op = ParamHessian(net, None, d, mode="train", dtype=F64)
    v = vec(eval_op.size)
    torch.testing.assert_close(eval_op.matvec(v), dense_hessian(net, None, d, mode="eval") @ v, rtol=1e-10, atol=1e-12)
    Ht = dense_hessian(net, None, d, mode="train")
    torch.testing.assert_close(train_op.matvec(v), Ht @ v, rtol=1e-10, atol=1e-12)
    assert (train_op.matvec(v) - eval_op.matvec(v)).abs().max() > 1e-6
    assert train_op.settings["mode"] == "train" and eval_op.settings["chunk_size"] == 3


def test_dropout_train_mode_refused_eval_allowed() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3)).double()
    with pytest.raises(ConfigError, match="Dropout"):
        ParamHessian(net, None, data(), mode="train")
    with pytest.raises(ConfigError, match="Dropout"):
        dense_hessian(net, None, data(), mode="train")
    op = ParamHessian(net, None, data(), dtype=F64)
    v = vec(op.size)
    torch.testing.assert_close(op.matvec(v), op.matvec(v), rtol=0, atol=0)


def test_caller_model_state_untouched_by_every_call() -> None:
    net, d = bn_net(), data(8, (1, 5, 5))
    net.train()
    net[1].eval()
    for p in net.parameters():
        p.grad = torch.full_like(p, 7.0)
    before = {k: t.clone() for k, t in net.state_dict().items()}
    flags = [m.training for m in net.modules()]

    def unchanged() -> None:
        assert [m.training for m in net.modules()] == flags
        for k, t in net.state_dict().items():
            assert torch.equal(t, before[k]), k
        assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in net.parameters())
        assert next(net.parameters()).dtype == F64

    for mode, chunk in (("eval", 3), ("train", None)):
        for method in ("fwd_rev", "double_backward"):
            op = ParamHessian(net, None, d, mode=mode, chunk_size=chunk, hvp_method=method, dtype=torch.float32)
            op.matvec(vec(op.size).float()), op.matmat(torch.ones(op.size, 2)), gradient(op), loss(op)
            unchanged()
        g = GGN(net, None, d, mode=mode, chunk_size=chunk)
        g.matvec(vec(g.size).float()), g.matmat(torch.ones(g.size, 2))
        unchanged()
        dense_hessian(net, None, d, mode=mode)
        unchanged()
    input_gradient(net, *d), input_top_eigenvalue(net, *d, iters=3)
    unchanged()


def test_param_selection_and_layout() -> None:
    net = bn_net()
    assert select_param_names(net, "weight") == ("0.weight", "1.weight", "4.weight")
    assert select_param_names(net, ["4.bias", "0.weight"]) == ("0.weight", "4.bias")  # model order
    for bad in (["nope"], r"^zzz", "(["):
        with pytest.raises(ConfigError):
            select_param_names(net, bad)
    spec = param_spec(net, r"^[01]\.")
    v = vec(spec.size)
    assert torch.equal(spec.flatten(spec.unflatten(v)), v)
    V = torch.stack([v, 2 * v])
    assert torch.equal(spec.flatten_batch(spec.unflatten_batch(V)), V)


def test_settings_and_argument_validation() -> None:
    net, d = mlp(), data()
    op = ParamHessian(net, None, d, samples=4, seed=9, chunk_size=2, params="^2\\.", dtype=F64)
    s = op.settings
    assert (s["samples"], s["N"], s["seed"], s["mode"], s["chunk_size"]) == (4, 10, 9, "eval", 2)
    assert s["params"] == ["2.weight", "2.bias"] and s["dtype"] == "float64" and s["loss"] == "cross_entropy"
    assert s["sample_selection"] == "random" and s["size"] == op.size == 21
    for kw in ({"samples": 0}, {"samples": 11}, {"samples": [1, 1]}, {"samples": [10]}, {"samples": "some"},
               {"chunk_size": 0}, {"mode": "test"}, {"hvp_method": "magic"}, {"dtype": torch.int64}):
        with pytest.raises(ConfigError):
            ParamHessian(net, None, d, **kw)
    with pytest.raises(ConfigError):
        ParamHessian(net, None, (d[0], d[1][:3]))
    with pytest.raises(ConfigError, match="max_size"):
        dense_hessian(net, None, d, max_size=10)


def test_dataset_like_object_and_custom_loss() -> None:
    class DS:
        def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
            self.images, self.labels = x, y

    net, (x, _) = mlp(), data()
    targets = torch.randn(10, 3, dtype=F64)
    op = ParamHessian(net, F.mse_loss, DS(x, targets), chunk_size=4, dtype=F64)
    v = vec(op.size)
    torch.testing.assert_close(op.matvec(v), dense_hessian(net, F.mse_loss, (x, targets)) @ v, rtol=1e-10, atol=1e-12)


def test_operator_is_a_snapshot_of_the_parameters_at_construction() -> None:
    net, d = mlp(), data()
    op = ParamHessian(net, None, d, dtype=F64)
    v = vec(op.size)
    before = op.matvec(v)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    torch.testing.assert_close(op.matvec(v), before, rtol=0, atol=0)
    assert (ParamHessian(net, None, d, dtype=F64).matvec(v) - before).abs().max() > 1e-6
