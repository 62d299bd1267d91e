"""Solver overhead at large n: top-20 eigenpairs of a 4-million-parameter Hessian whose products are cheap.

On a model with millions of parameters and a small sample (the paper presets' sub-sampled spectra at B_H = 1 or
10, the end-to-end test at 10 samples), a Hessian-vector product costs tens of milliseconds while the Krylov
basis holds 50-100 float64 vectors of 32 MB each, so the solver's own arithmetic (re-orthogonalisation,
restarts, Ritz vectors) can cost more than the products. This benchmark measures it, side by side in one
process: our single-vector Lanczos, our block Lanczos (b = 8) and scipy's ``eigsh`` (ARPACK) on the same
operator, each timed in total and in its products (a counting wrapper around the operator), so
``overhead = total - products``.

Setup: M1 (Yao et al.'s MNIST model, 4,016,050 parameters) at its seeded initialisation, ``--samples`` random
inputs of shape 1 x 28 x 28 with random labels, :class:`~hessianlab.curvature.ParamHessian` in eval mode
(float32 products, one chunk: the cached-graph path), top-20 at tol 1e-4, ``which="LA"``.

JSON (``bench/results/eigs_overhead.json``): per solver ``seconds``, ``product_seconds``, ``overhead_seconds``,
``num_matvecs``, ``num_passes``, ``eigenvalues``; ``ratios``: ARPACK's seconds and overhead over ours.

Usage: ``python bench/bench_eigs_overhead.py [--samples 10] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hessianlab.allocator import tune_allocator
from hessianlab.curvature import ParamHessian, top_eigenpairs
from hessianlab.models import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import write_result  # noqa: E402

K, TOL = 20, 1e-4
log = logging.getLogger("bench_eigs_overhead")


class Timed(ParamHessian):
    """``ParamHessian`` that adds the seconds of every product to ``product_seconds``."""

    product_seconds = 0.0

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = super().matvec(v)
        self.product_seconds += time.perf_counter() - start
        return out

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = super().matmat(V)
        self.product_seconds += time.perf_counter() - start
        return out


def operator(samples: int) -> Timed:
    torch.manual_seed(0)
    model = build_model("m1", in_shape=(1, 28, 28), num_classes=10).eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(samples, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (samples,), generator=gen)
    return Timed(model, F.cross_entropy, (x, y), mode="eval")


def ours(op: Timed, method: str) -> dict:
    op.product_seconds = 0.0
    r = top_eigenpairs(op, K, method=method, tol=TOL)
    return {"seconds": r.seconds, "product_seconds": op.product_seconds,
            "overhead_seconds": r.seconds - op.product_seconds, "num_matvecs": r.num_matvecs,
            "num_passes": r.num_passes, "converged": r.converged,
            "max_relative_residual": float(r.relative_residuals.max()), "eigenvalues": r.eigenvalues.tolist()}


def arpack(op: Timed) -> dict:
    from scipy.sparse.linalg import LinearOperator as ScipyOperator, eigsh

    op.product_seconds = 0.0
    mv0, p0 = op.num_matvecs, op.num_passes

    def mv(v: np.ndarray) -> np.ndarray:
        return op.matvec(torch.from_numpy(np.ascontiguousarray(v).reshape(-1)).float()).double().numpy()

    v0 = np.random.default_rng(0).standard_normal(op.size)
    start = time.perf_counter()
    vals, _ = eigsh(ScipyOperator((op.size, op.size), matvec=mv, dtype=np.float64), k=K, which="LA", tol=TOL, v0=v0)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "product_seconds": op.product_seconds, "overhead_seconds": seconds - op.product_seconds,
            "num_matvecs": op.num_matvecs - mv0, "num_passes": op.num_passes - p0,
            "eigenvalues": sorted(map(float, vals), reverse=True)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    tune_allocator()  # as the hessianlab command runs
    op = operator(args.samples)
    op.matvec(torch.randn(op.size))  # builds the cached graph outside every timing
    solvers = {"lanczos": ours(op, "lanczos"), "arpack": arpack(op), "block8": ours(op, "block")}
    for name, r in solvers.items():
        log.info("%s: %.1f s (products %.1f s, overhead %.1f s), %d products", name, r["seconds"],
                 r["product_seconds"], r["overhead_seconds"], r["num_matvecs"])
    ref = np.array(solvers["arpack"]["eigenvalues"])
    for r in solvers.values():
        r["max_relative_difference_to_arpack"] = float(np.max(np.abs(np.array(r["eigenvalues"]) - ref) / np.abs(ref)))
    payload = {"model": "m1", "num_params": op.size, "samples": args.samples, "k": K, "tol": TOL, "solvers": solvers,
               "ratios": {name: {"seconds_arpack_over_ours": solvers["arpack"]["seconds"] / r["seconds"],
                                 "overhead_arpack_over_ours": solvers["arpack"]["overhead_seconds"]
                                 / r["overhead_seconds"]}
                          for name, r in solvers.items() if name != "arpack"}}
    log.info("wrote %s", write_result(args.out, "eigs_overhead", payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
