"""torch.func compatibility: jvp through functional_call, forward-over-reverse HVPs, vmap, float64.

Inputs are 3x20x20 (small but valid for every conv model) to keep the file fast on 2 cores.
All checks run in float64 and eval mode (BatchNorm in train mode updates its running statistics
in place, which torch.func transforms refuse; callers use eval mode or
``torch.func.replace_all_batch_norm_modules_``).

Finite differences are compared on the smooth (softplus) variants, along a direction of unit
norm: central differences with h = 1e-6 have truncation error O(h^2 * third derivative) ~ 1e-10
(beta = 20 keeps the third derivative below ~1e2 here) and rounding error ~ 1e-16 / h ~ 1e-10,
so rtol 1e-5 is loose; an absolute floor of 1e-8 * (1 + |f|) covers the rounding error
eps * |f| / h ~ 2e-10 * |f| when the derivative itself is tiny. ReLU networks are piecewise linear: a kink crossed inside +-h spoils a
finite difference, so for ReLU the forward-mode result is checked against reverse mode instead
(adjoint identity <u, J v> = <J^T u, v>, and the HVP against reverse-over-reverse), which holds
to rounding.
"""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, grad, jvp, vjp, vmap

from hessianlab.models import MODEL_NAMES, build_model

SMALL = 0.125
H = 1e-6


def _setup(name: str, activation: str, shape: tuple[int, int, int] = (3, 20, 20)):
    torch.manual_seed(0)
    model = build_model(name, in_shape=shape, num_classes=10, width=SMALL, activation=activation)
    model = model.double().eval()
    params = {k: v.detach() for k, v in model.named_parameters()}
    x = torch.rand(2, *shape, dtype=torch.float64)
    y = torch.tensor([1, 7])
    gen = torch.Generator().manual_seed(1)
    v = {k: torch.randn(p.shape, generator=gen, dtype=torch.float64) for k, p in params.items()}
    norm = torch.sqrt(sum((t**2).sum() for t in v.values()))
    v = {k: t / norm for k, t in v.items()}
    return model, params, x, y, v


def _axpy(a: float, v: dict, p: dict) -> dict:
    return {k: p[k] + a * v[k] for k in p}


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5, scale: torch.Tensor | None = None) -> bool:
    """||a - b|| <= rtol ||b|| + 1e-8 (1 + ||scale||); ``scale`` is the differenced function's value."""
    atol = 0.0 if scale is None else 1e-8 * (1.0 + scale.norm().item())
    return bool((a - b).norm() <= rtol * b.norm().item() + atol)


def _flat(d: dict, keys) -> torch.Tensor:
    return torch.cat([d[k].flatten() for k in keys])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_jvp_matches_finite_differences(name: str) -> None:
    model, params, x, _, v = _setup(name, "softplus")

    def f(p: dict) -> torch.Tensor:
        return functional_call(model, p, (x,))

    out, tangent = jvp(f, (params,), (v,))
    assert out.dtype == torch.float64 and out.shape == (2, 10)
    fd = (f(_axpy(H, v, params)) - f(_axpy(-H, v, params))) / (2 * H)
    assert _close(tangent, fd, scale=out)

    # directional derivative with respect to the input (input gradients / attacks)
    dx = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    dx = dx / dx.norm()
    _, tx = jvp(lambda xx: functional_call(model, params, (xx,)), (x,), (dx,))
    fdx = (model(x + H * dx) - model(x - H * dx)) / (2 * H)
    assert _close(tx, fdx, scale=out)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_relu_jvp_matches_reverse_mode(name: str) -> None:
    model, params, x, _, v = _setup(name, "relu")

    def f(p: dict) -> torch.Tensor:
        return functional_call(model, p, (x,))

    out, jv = jvp(f, (params,), (v,))
    u = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    _, vjp_fn = vjp(f, params)
    (jtu,) = vjp_fn(u)
    lhs = (u * jv).sum()
    rhs = sum((jtu[k] * v[k]).sum() for k in params)
    assert torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mlp", "c1", "cr"])
@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_forward_over_reverse_hvp(name: str, activation: str) -> None:
    model, params, x, y, v = _setup(name, activation)

    def loss(p: dict) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(functional_call(model, p, (x,)), y)

    g, hv = jvp(grad(loss), (params,), (v,))
    flat = _flat(hv, params)
    # reverse-over-reverse reference: d/dp <grad L(p), v>
    rr = grad(lambda p: sum((g * v[k]).sum() for k, g in grad(loss)(p).items()))(params)
    assert _close(flat, _flat(rr, params), rtol=1e-10)
    if activation == "softplus":
        gp, gm = grad(loss)(_axpy(H, v, params)), grad(loss)(_axpy(-H, v, params))
        fd = torch.cat([((gp[k] - gm[k]) / (2 * H)).flatten() for k in params])
        assert _close(flat, fd, rtol=1e-4, scale=_flat(g, params))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_vmap_per_sample_gradients_match_loop(name: str) -> None:
    model, params, x, y, _ = _setup(name, "elu")

    def sample_loss(p: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, p, (xi.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(logits, yi.unsqueeze(0))

    batched = vmap(grad(sample_loss), in_dims=(None, 0, 0))(params, x, y)
    for i in range(x.shape[0]):
        single = grad(sample_loss)(params, x[i], y[i])
        for k in params:
            assert torch.allclose(batched[k][i], single[k], rtol=1e-10, atol=1e-12), k


def test_float64_forward_and_buffers() -> None:
    model = build_model("resnet18", in_shape=(1, 28, 28), num_classes=10, width=SMALL, mean=0.13, std=0.31)
    model = model.double().eval()
    assert model.normalize.mean.dtype == torch.float64
    out = model(torch.rand(2, 1, 28, 28, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (2, 10)


def test_mnist1d_mlp_jvp() -> None:
    model, params, x, _, v = _setup("mlp", "softplus", shape=(1, 1, 40))

    def f(p: dict) -> torch.Tensor:
        return functional_call(model, p, (x,))

    out, tangent = jvp(f, (params,), (v,))
    fd = (f(_axpy(H, v, params)) - f(_axpy(-H, v, params))) / (2 * H)
    assert _close(tangent, fd, scale=out)
