"""Integration: solvers on the exact Hessian of a tiny MLP's loss (dense oracle by torch.func.hessian)."""

from __future__ import annotations

import torch
from torch.func import functional_call, grad, hessian, jvp

from hessianlab.curvature.eigs import top_eigenpairs
from hessianlab.curvature.operator import FunctionOperator
from hessianlab.curvature.trace import hutchinson_trace



def _problem():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    x = torch.randn(32, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (32,))
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params, i = {}, 0
        for name, shape in zip(names, shapes):
            size = shape.numel()
            params[name] = flat[i:i + size].reshape(shape)
            i += size
        return torch.nn.functional.cross_entropy(functional_call(model, params, (x,)), y)

    return loss, flat0


def test_top5_of_mlp_hessian_match_eigh() -> None:
    loss, flat0 = _problem()
    H = hessian(loss)(flat0)
    lam, U = torch.linalg.eigh(H)
    g = grad(loss)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        return jvp(g, (flat0,), (v,))[1]  # forward-over-reverse

    op = FunctionOperator(hvp, flat0.numel(), torch.float64, settings={"model": "mlp-4-6-3", "samples": 32})
    assert torch.allclose(op.matvec(U[:, -1]), H @ U[:, -1], atol=1e-12)
    result = top_eigenpairs(op, k=5, tol=1e-8)
    assert result.converged and result.operator_settings["samples"] == 32
    torch.testing.assert_close(result.eigenvalues, lam.flip(0)[:5], rtol=1e-7, atol=1e-10)
    cos = (result.eigenvectors * U.flip(1)[:, :5]).sum(dim=0).abs()
    assert torch.all(cos >= 1 - 1e-6)
    # power iteration: largest magnitude (0.62, 0.50, 0.38 here; the next one is negative)
    power = top_eigenpairs(op, k=3, method="power", tol=1e-7)
    assert power.converged
    torch.testing.assert_close(power.eigenvalues, lam[torch.argsort(lam.abs(), descending=True)][:3],
                               rtol=1e-6, atol=1e-10)
    sa = top_eigenpairs(op, k=2, which="SA", tol=1e-8)
    torch.testing.assert_close(sa.eigenvalues, lam[:2], rtol=1e-7, atol=1e-10)
    tr = hutchinson_trace(op, num_samples=100)
    assert abs(tr.estimate - float(torch.trace(H))) <= 3 * tr.standard_error
