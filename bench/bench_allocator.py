"""glibc ``malloc`` as it comes vs :func:`hessianlab.allocator.tune_allocator`, on the work hessianlab repeats.

The tuning is process-wide and cannot be undone, so each measurement runs in a fresh child process
(``python bench_allocator.py --child MODE WORKLOAD``), alternating default and tuned ``--repeats`` times;
the parent collects the children's JSON lines. Workloads (LeNet-5, random Fashion-MNIST-shaped inputs, after one
warm-up call each):

* ``sgd``: 10 SGD steps at batch 2,048 (forward, cross-entropy, backward, update);
* ``hvp``: 3 Hessian-vector products over 6,144 images in chunks of 1,024 (``ParamHessian``, eval mode,
  forward-over-reverse, as the eigs analysis computes them);
* ``eval``: 5 evaluation passes over 6,144 images in chunks of 2,048.

Per workload and mode: median wall seconds, user and system CPU seconds and minor page faults of the
measured calls (``getrusage``); ratios default / tuned.

Usage: ``python bench/bench_allocator.py [--repeats 3] [--threads 2] [--out bench/results]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

WORKLOADS = ("sgd", "hvp", "eval")


def _workload(name: str) -> Callable[[], Any]:
    import torch
    import torch.nn.functional as F

    from hessianlab.curvature import ParamHessian
    from hessianlab.models import build_model

    torch.manual_seed(0)
    model = build_model("lenet5", in_shape=(1, 28, 28), num_classes=10)
    gen = torch.Generator().manual_seed(0)
    if name == "sgd":
        x, y = torch.rand(2048, 1, 28, 28, generator=gen), torch.randint(0, 10, (2048,), generator=gen)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)

        def sgd() -> None:
            for _ in range(10):
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()

        return sgd
    x, y = torch.rand(6144, 1, 28, 28, generator=gen), torch.randint(0, 10, (6144,), generator=gen)
    model.eval()
    if name == "hvp":
        op = ParamHessian(model, F.cross_entropy, (x, y), mode="eval", chunk_size=1024)
        v = torch.randn(op.size, generator=gen)
        return lambda: [op.matvec(v) for _ in range(3)]

    def evaluate() -> None:
        with torch.no_grad():
            for _ in range(5):
                for chunk in x.split(2048):
                    model(chunk)

    return evaluate


def child(mode: str, workload: str, threads: int) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    import torch

    from hessianlab.allocator import tune_allocator

    applied = tune_allocator() if mode == "tuned" else False
    torch.set_num_threads(threads)
    fn = _workload(workload)
    fn()  # warm-up: the first call also sizes the heap
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"mode": mode, "workload": workload, "applied": applied, "wall_seconds": wall,
            "user_seconds": after.ru_utime - before.ru_utime, "system_seconds": after.ru_stime - before.ru_stime,
            "minor_faults": after.ru_minflt - before.ru_minflt}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "WORKLOAD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.threads)))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from harness import write_result

    rows: dict[str, dict[str, list[dict[str, Any]]]] = {w: {"default": [], "tuned": []} for w in WORKLOADS}
    for _ in range(args.repeats):
        for workload in WORKLOADS:
            for mode in ("default", "tuned"):
                out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--child", mode,
                                      workload], capture_output=True, text=True, check=True).stdout
                rows[workload][mode].append(json.loads(out.strip().splitlines()[-1]))
    summary: dict[str, Any] = {}
    for workload, modes in rows.items():
        med = {mode: {k: statistics.median(r[k] for r in runs)
                      for k in ("wall_seconds", "user_seconds", "system_seconds", "minor_faults")}
               for mode, runs in modes.items()}
        summary[workload] = {**med, "applied": all(r["applied"] for r in modes["tuned"]),
                             "wall_default_over_tuned": med["default"]["wall_seconds"] / med["tuned"]["wall_seconds"],
                             "cpu_default_over_tuned": (med["default"]["user_seconds"] + med["default"]["system_seconds"])
                             / (med["tuned"]["user_seconds"] + med["tuned"]["system_seconds"])}
        print(f"{workload}: wall {med['default']['wall_seconds']:.2f} s -> {med['tuned']['wall_seconds']:.2f} s "
              f"({summary[workload]['wall_default_over_tuned']:.2f}x), system CPU "
              f"{med['default']['system_seconds']:.2f} -> {med['tuned']['system_seconds']:.2f} s, faults "
              f"{med['default']['minor_faults']:.0f} -> {med['tuned']['minor_faults']:.0f}")
    path = write_result(args.out, "allocator", {"repeats": args.repeats, "workloads": summary, "runs": rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
