"""Product and solver costs of the full-training-set LeNet-5 Hessian on one device, at two chunk sizes.

For each chunk size (default 2,000 and 60,000 = one chunk): seconds of a gradient pass, a Hessian-vector
product, block products of 4 and 16 vectors (mean of a few calls after a warm-up, synchronised on CUDA), then
top-20 at tol 1e-4 by single-vector Lanczos, block Lanczos (b = 16) and scipy ``eigsh`` (ARPACK) on the same
operator. Written for a GPU session (``--device cuda``), where the moonshot's float64 reference does not fit the
few minutes a device is lent; the three solvers' eigenvalues are compared with each other instead. The JSON is
rewritten after every chunk size, so a run cut at its time limit keeps what finished.

JSON (``bench/results/device_products_<device>.json``)::

    {"benchmark", "environment", "device", "device_name", "images", "model": {...},
     "chunks": {"<chunk>": {"gradient_seconds", "matvec_seconds", "matmat4_seconds", "matmat16_seconds",
                            "solvers": {"lanczos" | "block16" | "arpack": {"seconds", "num_matvecs",
                                        "num_passes", "converged", "eigenvalues": [20]}}}}}

Usage: ``python bench/bench_device_products.py --device cuda [--chunks 2000,60000] [--images 60000]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from hessianlab.allocator import tune_allocator
from hessianlab.curvature.block_lanczos import block_lanczos
from hessianlab.curvature.lanczos import lanczos
from hessianlab.curvature.param_hessian import gradient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import write_result  # noqa: E402
from lenet_eigs import K, TOL, arpack, fashion_mnist, operator, trained_lenet  # noqa: E402

log = logging.getLogger("bench_device_products")


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` calls after one warm-up (synchronised on CUDA)."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--images", type=int, default=60000)
    ap.add_argument("--chunks", default="2000,60000")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    tune_allocator()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    x, y, meta = fashion_mnist(None if args.images >= 60000 else args.images)
    x, y = x.to(device), y.to(device)
    model, info = trained_lenet(args.out / f"device_products_lenet5_{device.type}.pt", x, y, meta, epochs=1)
    payload: dict[str, Any] = {"device": str(device), "images": int(x.shape[0]), "model": info, "chunks": {},
                               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    name = f"device_products_{device.type}"
    for chunk in [int(c) for c in args.chunks.split(",")]:
        op = operator(model, x, y, chunk)
        v = torch.randn(op.size, device=device)
        row: dict[str, Any] = {"gradient_seconds": _timed(lambda: gradient(op), device, 3),
                               "matvec_seconds": _timed(lambda: op.matvec(v), device, 3)}
        for b in (4, 16):
            V = torch.randn(op.size, b, device=device)
            row[f"matmat{b}_seconds"] = _timed(lambda: op.matmat(V), device, 2)
        log.info("chunk %d: %s", chunk, row)
        solvers: dict[str, Any] = {}
        for label, solve in (("lanczos", lambda: lanczos(op, K, tol=TOL)),
                             ("block16", lambda: block_lanczos(op, K, tol=TOL, block_size=16))):
            res = solve()
            solvers[label] = {"seconds": res.seconds, "num_matvecs": res.num_matvecs, "num_passes": res.num_passes,
                              "converged": res.converged, "eigenvalues": res.eigenvalues.tolist()}
        ar = arpack(op)
        ar.pop("eigenvectors")
        solvers["arpack"] = {**ar, "converged": True}
        row["solvers"] = solvers
        log.info("chunk %d solvers: %s", chunk,
                 {k: (round(s["seconds"], 1), s["num_matvecs"]) for k, s in solvers.items()})
        payload["chunks"][str(chunk)] = row
        write_result(args.out, name, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
