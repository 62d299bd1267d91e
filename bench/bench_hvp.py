"""HVP / gradient time ratio on M1-like and C1-like nets (batch 512, float32, 2 threads).

Gradient, forward-over-reverse HVP, double-backward HVP and the cached-graph HVP are timed side by side
in one process, in alternating repetitions, through the library's own entry points (``gradient(op)``,
``op.matvec``). ``cached`` is the time of one product once the gradient graph exists (what ``'auto'``
uses for a single chunk); ``cached_first`` is ``op.release()`` followed by a product, so the one-off graph
build costs ``cached_first - cached``. Writes ``bench/results/bench_hvp.json``. Target: HVP/grad <= 2.5.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn as nn

from hessianlab.curvature.param_hessian import ParamHessian, gradient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import alternate, median  # noqa: E402


def local_model(name: str) -> nn.Module:
    """Fallback definitions when ``hessianlab.models`` is unavailable."""
    if name == "m1":
        return nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 20, 5), nn.ReLU(), nn.Flatten(),
                             nn.Linear(8000, 500), nn.ReLU(), nn.Linear(500, 10))
    return nn.Sequential(
        nn.Conv2d(3, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.BatchNorm2d(64),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.BatchNorm2d(64), nn.Flatten(),
        nn.Linear(4096, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU(), nn.Linear(192, 10))


def make_model(name: str, in_shape: tuple[int, int, int]) -> tuple[nn.Module, str]:
    try:
        from hessianlab.models import build_model
    except ImportError:
        return local_model(name), "local"
    return build_model(name, in_shape=in_shape, num_classes=10), "hessianlab.models"


def bench(name: str, in_shape: tuple[int, int, int], batch: int, reps: int) -> dict:
    torch.manual_seed(0)
    model, source = make_model(name, in_shape)
    x, y = torch.rand(batch, *in_shape), torch.randint(0, 10, (batch,))
    ops = {m: ParamHessian(model, None, (x, y), hvp_method=m) for m in ("fwd_rev", "double_backward", "cached")}
    v = torch.randn(ops["fwd_rev"].size)

    def cached_first() -> None:
        ops["cached"].release()
        ops["cached"].matvec(v)

    tasks = {"gradient": lambda: gradient(ops["fwd_rev"]),
             "fwd_rev": lambda: ops["fwd_rev"].matvec(v),
             "double_backward": lambda: ops["double_backward"].matvec(v),
             "cached": lambda: ops["cached"].matvec(v),
             "cached_first": cached_first}
    times = alternate(tasks, repeats=reps)
    med = {k: median(t) for k, t in times.items()}
    ref = ops["fwd_rev"].matvec(v)
    return {
        "model": name, "model_source": source, "params": ops["fwd_rev"].size, "batch": batch,
        "dtype": "float32", "reps": reps, "median_seconds": med, "all_seconds": times,
        "ratio_fwd_rev": med["fwd_rev"] / med["gradient"],
        "ratio_double_backward": med["double_backward"] / med["gradient"],
        "ratio_cached": med["cached"] / med["gradient"],
        "cached_build_seconds": med["cached_first"] - med["cached"],
        "ratio_cached_build": (med["cached_first"] - med["cached"]) / med["gradient"],
        "rel_diff_fwd_rev_vs_double_backward": float((ref - ops["double_backward"].matvec(v)).norm() / ref.norm()),
        "rel_diff_fwd_rev_vs_cached": float((ref - ops["cached"].matvec(v)).norm() / ref.norm()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    results = [bench("m1", (1, 28, 28), args.batch, args.reps), bench("c1", (3, 32, 32), args.batch, args.reps)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_hvp.json").write_text(json.dumps({"threads": 2, "target_hvp_ratio": 2.5, "results": results}, indent=2))
    for r in results:
        print(f"{r['model']:>3} P={r['params']:>8} grad={r['median_seconds']['gradient']:.3f}s "
              f"HVP/grad fwd_rev={r['ratio_fwd_rev']:.2f} double_backward={r['ratio_double_backward']:.2f} "
              f"cached={r['ratio_cached']:.2f} (graph build {r['cached_build_seconds']:.3f}s "
              f"= {r['ratio_cached_build']:.2f} grad)")


if __name__ == "__main__":
    main()
