"""Block Lanczos on exact Hessians of tiny float64 nets: eigenpairs equal torch.linalg.eigh of the dense
Hessian (torch.func.hessian) for LA, SA and LM, chunked operators with one-pass block products."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from hessianlab.curvature.block_lanczos import block_lanczos
from hessianlab.curvature.dense import dense_hessian
from hessianlab.curvature.eigs import block_pays, shares_a_pass, top_eigenpairs
from hessianlab.curvature.param_hessian import ParamHessian
from tests.curvature.test_curv_solvers_lanczos import check_pairs

F64 = torch.float64


class Tied(nn.Module):
    """``enc.weight`` is used twice: as the first layer and, transposed, as a decoder added to the logits."""

    def __init__(self) -> None:
        super().__init__()
        self.enc, self.head = nn.Linear(4, 5), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.enc(x))
        return self.head(h) + (h @ self.enc.weight)[:, :3]


class Unused(nn.Module):
    """A parameter the loss never touches: its Hessian rows and columns are zero."""

    def __init__(self) -> None:
        super().__init__()
        self.used, self.unused = nn.Sequential(nn.Linear(4, 6), nn.Softplus(beta=2.0), nn.Linear(6, 3)), nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def _net(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    torch.manual_seed(0)
    if name == "relu":
        return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)), (4,)
    if name == "softplus":
        return nn.Sequential(nn.Linear(4, 6), nn.Softplus(beta=2.0), nn.Linear(6, 3)), (4,)
    if name == "batchnorm":
        net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(18, 3))
        with torch.no_grad():  # non-trivial running statistics, so eval mode matters
            net[1].running_mean.copy_(torch.tensor([0.3, -0.2]))
            net[1].running_var.copy_(torch.tensor([1.5, 0.7]))
            net[1].weight.copy_(torch.tensor([1.2, 0.8]))
        return net, (1, 5, 5)
    if name == "tied":
        return Tied(), (4,)
    return Unused(), (4,)


NETS = ("relu", "softplus", "batchnorm", "tied", "unused")


@pytest.mark.parametrize("name", NETS)
@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_block_lanczos_equals_dense_eigh(name: str, which: str) -> None:
    net, shape = _net(name)
    net = net.double().train()  # the operator must evaluate in eval mode and restore train mode
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn((12, *shape), generator=g, dtype=F64), torch.randint(0, 3, (12,), generator=g)
    H = dense_hessian(net, F.cross_entropy, (x, y), mode="eval")
    op = ParamHessian(net, F.cross_entropy, (x, y), chunk_size=5, mode="eval", dtype=F64)
    assert op.size == H.shape[0] and float(H.abs().max()) > 1e-3
    result = block_lanczos(op, 4, which=which, tol=1e-8, block_size=3)
    check_pairs(H, result, which, 1e-8)
    assert result.num_passes == op.num_passes  # every block of 3 products was one pass over the 3 chunks
    assert result.num_matvecs > result.num_passes
    assert net.training


def test_unused_parameter_rows_are_zero_and_eigenvectors_avoid_them() -> None:
    net, shape = _net("unused")
    net = net.double()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn((12, *shape), generator=g, dtype=F64), torch.randint(0, 3, (12,), generator=g)
    op = ParamHessian(net, F.cross_entropy, (x, y), chunk_size=5, dtype=F64)
    result = top_eigenpairs(op, 3, method="block", tol=1e-8, block_size=2)
    unused = op.unflatten(torch.arange(op.size, dtype=F64))
    idx = torch.cat([unused["unused.weight"].flatten(), unused["unused.bias"].flatten()]).long()
    assert result.converged and float(result.eigenvectors[idx].abs().max()) <= 1e-7


def test_auto_rule_on_param_hessians() -> None:
    """'auto' takes the block solver only where a pass over streamed data is shared: a loader-backed operator
    whose matmat shares a pass; not in-memory tensors (chunked or forward-over-reverse: a block costs about as
    much per vector as single products there, measured), nor the cached single-chunk graph (replayed once
    per column)."""
    net, shape = _net("softplus")
    net = net.double()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn((12, *shape), generator=g, dtype=F64), torch.randint(0, 3, (12,), generator=g)
    cached = ParamHessian(net, F.cross_entropy, (x, y), dtype=F64)
    chunked = ParamHessian(net, F.cross_entropy, (x, y), chunk_size=5, dtype=F64)
    fwd_rev = ParamHessian(net, F.cross_entropy, (x, y), hvp_method="fwd_rev", dtype=F64)
    loader = ParamHessian(net, F.cross_entropy, DataLoader(TensorDataset(x, y), batch_size=5), dtype=F64)
    assert not shares_a_pass(cached) and shares_a_pass(chunked) and shares_a_pass(fwd_rev) and shares_a_pass(loader)
    assert [block_pays(op) for op in (cached, chunked, fwd_rev, loader)] == [False, False, False, True]
    H = dense_hessian(net, F.cross_entropy, (x, y))
    for op, method in ((cached, "lanczos"), (chunked, "lanczos"), (fwd_rev, "lanczos"), (loader, "block_lanczos")):
        result = top_eigenpairs(op, 5, method="auto", tol=1e-8)
        assert result.method == method
        check_pairs(H, result, "LA", 1e-8)
    assert not shares_a_pass(cached)  # still after its first products chose the cached path
