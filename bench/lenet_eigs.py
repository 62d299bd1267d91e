"""Shared pieces of the LeNet-5 / Fashion-MNIST eigen benchmarks: data, a cached trained model, the operator,
scipy's ``eigsh`` (ARPACK) on the same operator, and accuracy against a reference.

Used by ``bench_eigs_arpack.py`` (2,048 images) and ``bench_eigs_moonshot.py`` (all 60,000).
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from hessianlab.curvature.operator import LinearOperator
from hessianlab.curvature.param_hessian import ParamHessian
from hessianlab.curvature.results import EigenResult
from hessianlab.data import load_dataset
from hessianlab.models import build_model

log = logging.getLogger("lenet_eigs")
K, TOL = 20, 1e-4


def fashion_mnist(subset: int | None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Training images ``(N, 1, 28, 28)`` in [0, 1] and labels; a stratified seeded subset when asked."""
    ds = load_dataset("fashion-mnist", "train", subset=subset, seed=0)
    return ds.images, ds.labels, {"mean": ds.meta.mean, "std": ds.meta.std}


def trained_lenet(cache: Path, x: torch.Tensor, y: torch.Tensor, meta: dict, epochs: int) -> tuple[nn.Module, dict]:
    """LeNet-5 trained by SGD (lr 0.01, momentum 0.9, batch 64, seeded), or loaded from ``cache``; on the device
    of ``x`` (the weights, and so the cache, depend on the device that trained them)."""
    torch.manual_seed(0)
    model = build_model("lenet5", in_shape=(1, 28, 28), num_classes=10, mean=meta["mean"], std=meta["std"])
    model.to(x.device)
    if cache.exists():
        model.load_state_dict(torch.load(cache, weights_only=True, map_location=x.device))
        info: dict[str, Any] = {"cached": True}
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        gen = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(x.shape[0], generator=gen).to(x.device).split(64):
                opt.zero_grad()
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
        torch.save(model.state_dict(), cache)
        info = {"cached": False, "train_seconds": time.perf_counter() - t0, "epochs": epochs}
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(xc) for xc in x.split(2000)])
    info["train_loss"] = float(F.cross_entropy(logits, y))
    info["train_accuracy"] = float((logits.argmax(1) == y).float().mean())
    info["num_params"] = sum(p.numel() for p in model.parameters())
    info["weights_sha256"] = hashlib.sha256(
        b"".join(p.detach().cpu().numpy().tobytes() for p in model.parameters())).hexdigest()[:16]
    return model, info


def operator(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int, dtype=torch.float32) -> ParamHessian:
    """The Hessian of the mean cross-entropy over ``(x, y)`` in eval mode, chunked (forward-over-reverse)."""
    return ParamHessian(model, F.cross_entropy, (x, y), chunk_size=chunk, dtype=dtype, mode="eval")


def arpack(op: LinearOperator, k: int = K, tol: float = TOL, seed: int = 0) -> dict:
    """scipy ``eigsh(which='LA')`` on ``op.matvec`` (float64 ARPACK on the CPU, products in ``op.dtype`` on the
    operator's device)."""
    from scipy.sparse.linalg import LinearOperator as ScipyOperator, eigsh

    mv0, p0 = op.num_matvecs, op.num_passes

    def mv(v: np.ndarray) -> np.ndarray:
        out = op.matvec(torch.from_numpy(np.ascontiguousarray(v).reshape(-1)).to(op.device, op.dtype))
        return out.to(torch.float64).cpu().numpy()

    v0 = np.random.default_rng(seed).standard_normal(op.size)
    t0 = time.perf_counter()
    vals, vecs = eigsh(ScipyOperator((op.size, op.size), matvec=mv, dtype=np.float64), k=k, which="LA", tol=tol,
                       v0=v0)
    seconds = time.perf_counter() - t0
    order = np.argsort(vals)[::-1]
    return {"eigenvalues": [float(v) for v in vals[order]], "eigenvectors": torch.from_numpy(vecs[:, order].copy()),
            "num_matvecs": op.num_matvecs - mv0, "num_passes": op.num_passes - p0, "seconds": seconds}


def true_residuals(op: LinearOperator, values: list[float], vectors: torch.Tensor) -> list[float]:
    """Relative residuals ``||A v - λ v|| / |λ|`` by fresh products (one pass; not part of any timing)."""
    V = vectors.to(op.device, torch.float64)
    V = V / torch.linalg.vector_norm(V, dim=0)
    AV = op.matmat(V.to(op.dtype)).to(torch.float64)
    lam = torch.tensor(values, dtype=torch.float64, device=op.device)
    return (torch.linalg.vector_norm(AV - V * lam, dim=0) / lam.abs()).tolist()


def relative_errors(values: list[float], reference: list[float]) -> list[float]:
    """``|λ_i - λ_i^ref| / |λ_i^ref|`` with both sorted descending."""
    vals = sorted(values, reverse=True)
    return [abs(v - r) / abs(r) for v, r in zip(vals, reference)]


def summary(result: EigenResult) -> dict:
    """The fields a benchmark row records for one of our solves."""
    return {"method": result.method, "block_size": result.block_size, "seconds": result.seconds,
            "num_matvecs": result.num_matvecs, "num_passes": result.num_passes, "converged": result.converged,
            "max_relative_residual": float(result.relative_residuals.max()), "eigenvalues": result.eigenvalues.tolist(),
            "info": result.info}
