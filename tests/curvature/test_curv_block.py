"""Block products: ``matmat(V)`` equals ``k`` single products for every operator kind, chunked or not, from
tensors or a DataLoader, and costs exactly one pass over the data."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from hessianlab.curvature import GGN, ParamHessian, ResidualCurvature, dense_hessian
from hessianlab.curvature import hvp as hvp_module

F64 = torch.float64
N = 14


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ELU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3)).double()


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(N, 1, 6, 6, generator=g, dtype=F64), torch.randint(0, 3, (N,), generator=g)


def block(size: int, k: int) -> torch.Tensor:
    return torch.randn(size, k, generator=torch.Generator().manual_seed(k), dtype=F64)


def sources(x: torch.Tensor, y: torch.Tensor) -> dict:
    torch.manual_seed(3)
    return {
        "tensors": ((x, y), {}),
        "tensors-chunked": ((x, y), {"chunk_size": 4}),
        "subsampled": ((x, y), {"samples": 9, "seed": 2, "chunk_size": 4}),
        "loader": (DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True), {}),
        "loader-split": (DataLoader(TensorDataset(x, y), batch_size=6), {"chunk_size": 4}),
    }


KINDS = [("hessian", m) for m in ("auto", "cached", "fwd_rev", "double_backward")] + [("block", "auto"), ("ggn", None)]


@pytest.mark.parametrize("kind,method", KINDS)
@pytest.mark.parametrize("source", ["tensors", "tensors-chunked", "subsampled", "loader", "loader-split"])
def test_block_product_equals_single_products_in_one_pass(kind: str, method: str | None, source: str) -> None:
    model, (x, y) = net(), data()
    d, kw = sources(x, y)[source]
    if kind == "ggn":
        op = GGN(model, None, d, dtype=F64, **kw)
    else:
        params = r"^4\." if kind == "block" else None
        op = ParamHessian(model, None, d, dtype=F64, hvp_method=method, params=params, **kw)
    V = block(op.size, 5)
    HV = op.matmat(V)
    assert (op.num_matvecs, op.num_passes) == (5, 1)
    cols = torch.stack([op.matvec(V[:, j]) for j in range(5)], dim=1)
    assert (op.num_matvecs, op.num_passes) == (10, 6)
    torch.testing.assert_close(HV, cols, rtol=1e-12, atol=1e-13)
    if kind != "ggn":
        idx = kw.get("samples") and op.sample_indices
        ref = dense_hessian(model, None, (x, y) if idx is None else (x[idx], y[idx]),
                            params=r"^4\." if kind == "block" else None)
        torch.testing.assert_close(HV, ref @ V, rtol=1e-10, atol=1e-12)


def test_residual_block_is_hessian_minus_ggn_and_counts_both_passes() -> None:
    model, (x, y) = net(), data()
    res = ResidualCurvature(ParamHessian(model, None, (x, y), dtype=F64, chunk_size=4),
                            GGN(model, None, (x, y), dtype=F64, chunk_size=4))
    V = block(res.size, 3)
    R = res.matmat(V)
    assert (res.num_matvecs, res.num_passes) == (3, 2)
    torch.testing.assert_close(R, res.hessian.matmat(V) - res.ggn.matmat(V), rtol=1e-12, atol=1e-13)


def test_auto_falls_back_to_fwd_rev_when_double_backward_fails_over_several_batches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, v: object) -> None:
        raise RuntimeError("double backward not implemented")

    model, (x, y) = net(), data()
    H = dense_hessian(model, None, (x, y))
    monkeypatch.setattr(hvp_module.GradientGraph, "hvp", broken)
    op = ParamHessian(model, None, (x, y), dtype=F64, chunk_size=4)
    V = block(op.size, 3)
    torch.testing.assert_close(op.matmat(V), H @ V, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(op.matvec(V[:, 0]), H @ V[:, 0], rtol=1e-10, atol=1e-12)
    assert (op.settings["hvp_method_used"], op.settings["block_method_used"]) == ("fwd_rev", "fwd_rev")
