"""Cost of single and block Hessian-vector products over chunked data, in gradient passes (LeNet-5).

LeNet-5 on the first ``--n`` Fashion-MNIST training images (float32, ``--threads``), batches of ``--chunk``.
Timed side by side in one process, in alternating rounds, through the library's entry points:

* ``gradient``: one full-batch gradient pass (``hessianlab.curvature.gradient``), the unit;
* ``matvec/<method>``: one ``ParamHessian.matvec`` (one pass) for ``fwd_rev`` and ``double_backward``,
  and ``matvec/plain_jvp``, an unbatched ``jvp`` of ``grad`` per batch (what ``fwd_rev`` used to be);
* ``matmat/<method>/b``: one ``ParamHessian.matmat`` with ``b`` columns (one pass), reported per vector
  (``double_backward`` only at ``--graph-blocks``: its ``b`` backward passes make it flat in ``b``);
* ``loader/*``: the gradient and the default matvec over a shuffled ``DataLoader`` of the same images.

Prints and writes ``bench/results/bench_hvp_block.json`` with seconds (``--stat``: min or median of the
rounds), per-vector ratios to the
gradient pass, the fastest method per product kind (the ``'auto'`` defaults) and the block size after which
the per-vector cost stops falling by more than 10 %. Targets (issue 11): single HVP <= 2.5 gradient passes,
block product per vector at b = 16 <= 1.5.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from hessianlab.curvature.hvp import hvp_fwd_rev
from hessianlab.curvature.param_hessian import AUTO_BLOCK_METHOD, AUTO_MATVEC_METHOD, ParamHessian, gradient
from hessianlab.data import load_dataset
from hessianlab.models import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import alternate, environment, median, write_result  # noqa: E402

METHODS = ("fwd_rev", "double_backward")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=8192, help="training images (60000: all)")
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--blocks", default="1,4,8,16,32")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--graph-blocks", default="16", help="block sizes timed for double_backward (a loop of "
                        "backward passes, so its per-vector cost is flat in b); the others only for fwd_rev")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--stat", choices=("median", "min"), default="min",
                        help="per-task statistic over the rounds (min: least disturbed by other load)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time (use with --threads 1 on a loaded machine)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    blocks = [int(b) for b in args.blocks.split(",")]
    methods = args.methods.split(",")
    ds = load_dataset("fashion-mnist", "train")
    x, y = ds.images[: args.n], ds.labels[: args.n]
    torch.manual_seed(0)
    model = build_model("lenet5", in_shape=(1, 28, 28), num_classes=10)
    ops = {m: ParamHessian(model, None, (x, y), chunk_size=args.chunk, hvp_method=m) for m in methods}
    loader = DataLoader(TensorDataset(x, y), batch_size=args.chunk, shuffle=True)
    t0 = time.perf_counter()
    loader_op = ParamHessian(model, None, loader)
    construct_seconds = time.perf_counter() - t0
    size = ops[methods[0]].size
    gen = torch.Generator().manual_seed(1)
    v = torch.randn(size, generator=gen)
    V = {b: torch.randn(size, b, generator=gen) for b in blocks}
    tasks = {"gradient": lambda: gradient(ops[methods[0]])}
    tasks.update({f"matvec/{m}": (lambda m=m: ops[m].matvec(v)) for m in methods})
    graph_blocks = [int(b) for b in args.graph_blocks.split(",")]
    timed = {m: blocks if m == "fwd_rev" else [b for b in graph_blocks if b in blocks] for m in methods}
    tasks.update({f"matmat/{m}/{b}": (lambda m=m, b=b: ops[m].matmat(V[b])) for m in methods for b in timed[m]})
    plain = ops[methods[0]]  # the unbatched jvp-of-grad HVP the library no longer uses for single products

    def plain_jvp() -> None:
        vd = plain.unflatten(v)
        for batch, _ in plain.chunks():
            hvp_fwd_rev(plain.objective.closure(batch), plain.objective.point, vd)

    tasks["matvec/plain_jvp"] = plain_jvp
    tasks.update({"loader/gradient": lambda: gradient(loader_op), "loader/matvec": lambda: loader_op.matvec(v)})
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    times = alternate(tasks, repeats=args.reps, warmup=0, clock=clock)
    med = {k: median(t) if args.stat == "median" else min(t) for k, t in times.items()}
    grad = med["gradient"]
    ratio = {k: med[k] / grad for k in med}
    per_vector = {m: {b: med[f"matmat/{m}/{b}"] / b / grad for b in timed[m]} for m in methods}
    best_matvec = min(methods, key=lambda m: ratio[f"matvec/{m}"])
    ref_b = 16 if all(16 in timed[m] for m in methods) else blocks[-1]
    best_block = min((m for m in methods if ref_b in timed[m]), key=lambda m: per_vector[m][ref_b])
    curve = per_vector[best_block]
    sizes = timed[best_block]
    recommended = next((b for b, nxt in zip(sizes, sizes[1:]) if curve[nxt] > 0.9 * curve[b]), sizes[-1])
    hv = ops[methods[0]].matvec(v)
    agree = {m: float((ops[m].matvec(v) - hv).norm() / hv.norm()) for m in methods}
    payload = {
        "model": "lenet5", "params": size, "images": int(x.shape[0]), "chunk": args.chunk, "dtype": "float32",
        "reps": args.reps, "statistic": args.stat, "clock": args.clock, "threads": args.threads, "seconds": med,
        "all_seconds": times, "ratio_to_gradient": ratio,
        "per_vector_ratio": {m: {str(b): r for b, r in c.items()} for m, c in per_vector.items()},
        "fastest_matvec_method": best_matvec, "fastest_block_method": best_block,
        "recommended_block_size": recommended, "library_defaults": {"matvec": AUTO_MATVEC_METHOD,
                                                                    "block": AUTO_BLOCK_METHOD},
        "loader_construct_seconds": construct_seconds, "rel_diff_between_methods": agree,
        "targets": {"single_hvp": 2.5, "block_per_vector_b16": 1.5}, "load_average": _loadavg(),
        "environment": environment(),
    }
    name = "bench_hvp_block" if args.clock == "wall" else "bench_hvp_block_cpu"
    path = write_result(Path(args.out), name, payload)
    print(f"gradient pass over {x.shape[0]} images: {grad:.2f} s")
    for m in methods:
        cells = " ".join(f"b={b}:{per_vector[m][b]:.2f}" for b in timed[m])
        print(f"{m:>16}: matvec {ratio[f'matvec/{m}']:.2f} grads; block per vector {cells}")
    print(f"plain jvp-of-grad matvec: {ratio['matvec/plain_jvp']:.2f} grads")
    print(f"loader: gradient {ratio['loader/gradient']:.2f}, matvec {ratio['loader/matvec']:.2f} (x tensor gradient)")
    print(f"fastest: matvec {best_matvec}, block {best_block}; recommended block size {recommended}; -> {path}")


def _loadavg() -> list[float]:
    try:
        return [float(f) for f in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


if __name__ == "__main__":
    main()
