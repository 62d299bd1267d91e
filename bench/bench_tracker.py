"""Tracking λ1 every epoch in a plain loop (hessianlab.Tracker) against the trainer's λ1 hook, same problem.

A plain PyTorch loop trains LeNet-5 on Fashion-MNIST (or a synthetic stand-in when it is not installed); after
every epoch, on the same model state and in alternating order, three measurements of λ1 and the full-batch
gradient norm on the same seeded sample:

* ``hook``: the trainer's per-epoch hook (``CurvatureHook``, what ``--track-lambda1`` runs);
* ``tracker``: ``Tracker.epoch_end()`` with the same settings (cold start, the default);
* ``tracker_warm``: ``Tracker(warm_start=True)``, each solve started from the previous epoch's Ritz vectors;
* ``hook_warm``: the trainer's hook with ``warm_start=True`` (what ``--track-lambda1-warm`` runs).

Reported: median wall and CPU (process) seconds per epoch and the ratios tracker / hook and tracker_warm / hook
(<= 1: the plain-loop tracker costs no more; CPU time is the steadier figure on a shared machine), the
Hessian-vector products per solve and in total (the passes warm starts save after the first epoch), and that
``tracker`` equals ``hook`` and ``tracker_warm`` equals ``hook_warm`` bitwise.

Usage: ``python bench/bench_tracker.py [--subset 1024] [--samples 512] [--epochs 6] [--name tracker]
[--out bench/results]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import write_result  # noqa: E402

from hessianlab.data import BatchIterator, load_dataset  # noqa: E402
from hessianlab.errors import DataError  # noqa: E402
from hessianlab.models import build_model  # noqa: E402
from hessianlab.tracking import Tracker  # noqa: E402
from hessianlab.training.hooks import CurvatureHook  # noqa: E402


def _data(subset: int):
    try:
        return load_dataset("fashion-mnist", "train", subset=subset, seed=0), "fashion-mnist"
    except DataError:
        name = "synthetic:shape=1x28x28,classes=10"
        return load_dataset(name, "train", subset=subset, seed=0), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=1024)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="tracker", help="result file name (without .json)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, dataset = _data(args.subset)
    torch.manual_seed(0)
    model = build_model("lenet5", in_shape=train.meta.shape, num_classes=10, mean=train.meta.mean, std=train.meta.std)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    hook = CurvatureHook(samples=args.samples, seed=0)
    hook_warm = CurvatureHook(samples=args.samples, seed=0, warm_start=True)
    cold = Tracker(model, train, samples=args.samples, seed=0, measures=("lambda1", "grad_norm"))
    warm = Tracker(model, train, samples=args.samples, seed=0, measures=("lambda1", "grad_norm"), warm_start=True)
    ctx = type("Ctx", (), {"model": model, "train": train})  # what the hook reads of the trainer's EpochContext
    times: dict[str, list[float]] = {"hook": [], "tracker": [], "tracker_warm": [], "hook_warm": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    matvecs: dict[str, list[int]] = {name: [] for name in times}
    agree = agree_warm = True
    batches = BatchIterator(train, batch_size=64, seed=0)
    for epoch in range(args.epochs):
        model.train()
        for x, y in batches.epoch(epoch):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        calls = {"hook": lambda: hook(ctx), "tracker": cold.epoch_end, "tracker_warm": warm.epoch_end,
                 "hook_warm": lambda: hook_warm(ctx)}
        order = list(calls) if epoch % 2 == 0 else list(reversed(calls))
        out = {}
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            out[name] = calls[name]()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            matvecs[name].append(int(out[name]["lambda1_matvecs"]))
        agree &= all(out["hook"][k] == out["tracker"][k] for k in out["hook"])
        agree_warm &= all(out["hook_warm"][k] == out["tracker_warm"][k] for k in out["hook_warm"])
    med = {name: statistics.median(v) for name, v in times.items()}
    med_cpu = {name: statistics.median(v) for name, v in cpu.items()}
    payload = {
        "dataset": dataset, "model": "lenet5", "subset": args.subset, "samples": args.samples, "epochs": args.epochs,
        "median_seconds": med, "seconds": times, "median_cpu_seconds": med_cpu, "cpu_seconds": cpu,
        "matvecs": matvecs, "total_matvecs": {name: sum(v) for name, v in matvecs.items()},
        "warm_saved_fraction_after_first": 1 - sum(matvecs["hook_warm"][1:]) / max(1, sum(matvecs["hook"][1:])),
        "ratio_cpu_tracker_over_hook": med_cpu["tracker"] / med_cpu["hook"],
        "ratio_cpu_tracker_warm_over_hook": med_cpu["tracker_warm"] / med_cpu["hook"],
        "ratio_tracker_over_hook": med["tracker"] / med["hook"],
        "ratio_tracker_warm_over_hook": med["tracker_warm"] / med["hook"],
        "ratio_cpu_hook_warm_over_hook": med_cpu["hook_warm"] / med_cpu["hook"],
        "tracker_equals_hook_bitwise": agree, "tracker_warm_equals_hook_warm_bitwise": agree_warm,
    }
    path = write_result(args.out, args.name, payload)
    print(f"CPU ratio tracker/hook {payload['ratio_cpu_tracker_over_hook']:.2f}, "
          f"warm/hook {payload['ratio_cpu_tracker_warm_over_hook']:.2f};  wall: hook {med['hook']:.2f} s  tracker {med['tracker']:.2f} s (ratio {payload['ratio_tracker_over_hook']:.2f})  "
          f"warm {med['tracker_warm']:.2f} s (ratio {payload['ratio_tracker_warm_over_hook']:.2f})  "
          f"bitwise equal: {agree}/{agree_warm}; products cold {payload['total_matvecs']['hook']} "
          f"warm {payload['total_matvecs']['hook_warm']}  -> {path}")


if __name__ == "__main__":
    main()
