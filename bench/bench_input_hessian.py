"""Per-sample input-Hessian λ1 for 1,000 images: batched Lanczos vs a per-sample Python loop.

Both paths call :func:`input_top_eigenvalue` with the same fixed number of Lanczos steps (tolerance too
small to stop early), on an M1-like net with Fashion-MNIST test images (uniform noise if unavailable).
Repetitions alternate a batched pass (``--batch`` images per call) over the rep's share of the ``--n``
images (all n are covered once) with a per-sample loop over ``--loop-samples`` images; the speed-up
compares median seconds per image.
Writes ``bench/results/bench_input_hessian.json``. Target: >= 20x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from hessianlab.curvature.input_hessian import input_top_eigenvalue


def load_images(n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    from hessianlab.data import load_dataset

    ds = load_dataset("fashion-mnist", "test", subset=n, seed=0)
    return ds.images, ds.labels, ds.meta.source


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    try:
        from hessianlab.models import build_model

        return build_model("m1", in_shape=(1, 28, 28), num_classes=10)
    except ImportError:
        import torch.nn as nn

        return nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 20, 5), nn.ReLU(), nn.Flatten(),
                             nn.Linear(8000, 500), nn.ReLU(), nn.Linear(500, 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--loop-samples", type=int, default=8)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    x, y, source = load_images(args.n)
    model = make_model().eval()
    kw = dict(iters=args.iters, tol=1e-30)

    share = args.n // args.reps

    def batched(lo: int) -> torch.Tensor:
        stops = [(i, min(i + args.batch, lo + share)) for i in range(lo, lo + share, args.batch)]
        return torch.cat([input_top_eigenvalue(model, x[a:b], y[a:b], **kw).eigenvalues for a, b in stops])

    def loop(lo: int) -> torch.Tensor:
        return torch.cat([input_top_eigenvalue(model, x[i : i + 1], y[i : i + 1], **kw).eigenvalues
                          for i in range(lo, lo + args.loop_samples)])

    input_top_eigenvalue(model, x[:1], y[:1], **kw), input_top_eigenvalue(model, x[:8], y[:8], **kw)  # warm-up
    t_batched, t_loop, lams, lam_loop = [], [], [], []
    for r in range(args.reps):
        t0 = time.perf_counter(); lams.append(batched(r * share)); t_batched.append(time.perf_counter() - t0)  # noqa: E702
        t0 = time.perf_counter(); lam_loop.append(loop(r * share)); t_loop.append(time.perf_counter() - t0)  # noqa: E702
    per_b = statistics.median(t_batched) / share
    per_l = statistics.median(t_loop) / args.loop_samples
    lam_b = torch.cat(lams)
    looped = torch.cat([lam_b[r * share : r * share + args.loop_samples] for r in range(args.reps)])
    lam_l = torch.cat(lam_loop)
    agree = float(((looped - lam_l).abs() / lam_l.abs().clamp_min(1e-12)).max())
    result = {
        "model": "m1", "data": source, "n": int(lam_b.numel()), "batch": args.batch, "loop_samples": args.loop_samples,
        "lanczos_steps": args.iters, "threads": 2, "dtype": "float32",
        "batched_seconds": t_batched, "loop_seconds": t_loop,
        "seconds_per_image_batched": per_b, "seconds_per_image_loop": per_l, "speedup": per_l / per_b,
        "max_rel_diff_lambda1": agree, "target_speedup": 20.0,
        "lambda1_summary": {"median": float(lam_b.median()), "max": float(lam_b.max())},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_input_hessian.json").write_text(json.dumps(result, indent=2))
    print(f"λ1^x for {args.n} images: batched {per_b * 1e3:.2f} ms/image, loop {per_l * 1e3:.2f} ms/image, "
          f"speed-up {per_l / per_b:.1f}x (max rel diff {agree:.1e})")


if __name__ == "__main__":
    main()
