"""Warm starts along training: passes a warm-started eigen-solve saves on a sequence of slowly changing
Hessians (LeNet-5, Fashion-MNIST, the model after successive SGD steps), cold and warm side by side.

Every ``--steps-between`` SGD updates (lr 0.01, momentum 0.9, batch 64) the Hessian of the mean loss over
``--images`` training images (chunks of ``--chunk``, eval mode, float32) is solved twice at tol 1e-4: cold
(random start) and warm (``v0`` = the previous warm solve's result). Two problems: top-20 with the block
solver (b = 8) and λ1 alone with single-vector Lanczos (λ1 per epoch, ABS checks). Recorded per check: passes,
products, seconds, the eigenvalue difference warm vs cold relative to the tolerance bound.

Writes ``bench/results/eigs_warm.json``. Usage: ``python bench/bench_eigs_warm.py [--checks 5]
[--problems top20_block8,lambda1_lanczos]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from hessianlab.curvature.eigs import top_eigenpairs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import write_result  # noqa: E402
from lenet_eigs import fashion_mnist, operator, trained_lenet  # noqa: E402

log = logging.getLogger("bench_eigs_warm")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--checks", type=int, default=5)
    ap.add_argument("--steps-between", type=int, default=16)
    ap.add_argument("--problems", default="top20_block8,lambda1_lanczos")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    x, y, meta = fashion_mnist(2048)
    model, info = trained_lenet(args.out / "eigs_arpack_lenet5.pt", x, y, meta, epochs=10)
    xh, yh = x[: args.images], y[: args.images]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    known = {"top20_block8": {"k": 20, "method": "block", "block_size": 8},
             "lambda1_lanczos": {"k": 1, "method": "lanczos"}}
    problems = {name: known[name] for name in args.problems.split(",")}
    rows: dict[str, list[dict]] = {name: [] for name in problems}
    previous: dict[str, object] = {name: None for name in problems}
    for check in range(args.checks):
        if check:
            model.train()
            for _ in range(args.steps_between):
                idx = torch.randint(0, x.shape[0], (64,), generator=gen)
                opt.zero_grad()
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
            model.eval()
        for name, kw in problems.items():
            cold = top_eigenpairs(operator(model, xh, yh, args.chunk), tol=1e-4, **kw)
            warm = cold if previous[name] is None else top_eigenpairs(
                operator(model, xh, yh, args.chunk), tol=1e-4, v0=previous[name], **kw)
            previous[name] = warm
            bound = 1e-4 * torch.clamp(cold.eigenvalues.abs(), min=cold.floor)
            rows[name].append({
                "check": check, "lambda1": float(cold.eigenvalues[0]),
                "cold": {"passes": cold.num_passes, "products": cold.num_matvecs, "seconds": cold.seconds,
                         "converged": cold.converged},
                "warm": {"passes": warm.num_passes, "products": warm.num_matvecs, "seconds": warm.seconds,
                         "converged": warm.converged, "started_warm": check > 0},
                "max_eigenvalue_difference_over_bound": float(((warm.eigenvalues - cold.eigenvalues).abs()
                                                               / bound).max()),
            })
            log.info("%s check %d: cold %d passes, warm %d passes", name, check, cold.num_passes, warm.num_passes)
    summary = {}
    for name, checks in rows.items():
        later = checks[1:]
        cold_p, warm_p = sum(c["cold"]["passes"] for c in later), sum(c["warm"]["passes"] for c in later)
        summary[name] = {"cold_passes": cold_p, "warm_passes": warm_p, "passes_saved_fraction": 1 - warm_p / cold_p,
                         "cold_seconds": sum(c["cold"]["seconds"] for c in later),
                         "warm_seconds": sum(c["warm"]["seconds"] for c in later)}
    payload = {"images": args.images, "chunk": args.chunk, "checks": args.checks,
               "sgd_steps_between_checks": args.steps_between, "model": info,
               "environment_note": "shared 2-core machine: seconds are upper bounds; passes are exact",
               "summary_over_warm_checks": summary, "checks_detail": rows}
    path = write_result(args.out, "eigs_warm", payload)
    log.info("summary %s -> %s", summary, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
