"""Full-dataset HVP over Fashion-MNIST training images: peak memory must not grow with N.

For N = 7,500 / 15,000 / 30,000 / 60,000 (fixed ``--chunk``) a fresh subprocess loads the data, builds
``ParamHessian`` over the first N images, warms up on one chunk, resets the kernel's peak-RSS counter
(``/proc/self/clear_refs`` <- 5), runs one full HVP and reports ``VmHWM - VmRSS(before)``: the memory the
product itself needs beyond the resident data. Throughput is samples per second of that HVP.
``--source loader`` builds the operator over a shuffled ``DataLoader`` (batch size ``--chunk``) of the same
images instead of the in-memory tensors: batches are streamed, so the growth must stay flat in N there too.
Writes ``bench/results/bench_hvp_memory.json`` (``bench_hvp_memory_loader.json`` for the loader).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def proc_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def load_train() -> tuple[torch.Tensor, torch.Tensor, str]:
    from hessianlab.data import load_dataset

    ds = load_dataset("fashion-mnist", "train")
    return ds.images, ds.labels, ds.meta.source


def child(n: int, chunk: int, model_name: str, source: str) -> dict:
    from hessianlab.curvature.param_hessian import ParamHessian
    from hessianlab.models import build_model

    torch.set_num_threads(2)
    x, y, source = load_train()
    x, y = x[:n], y[:n]
    torch.manual_seed(0)
    model = build_model(model_name, in_shape=(1, 28, 28), num_classes=10)
    if source == "loader":
        from torch.utils.data import DataLoader, TensorDataset

        op = ParamHessian(model, None, DataLoader(TensorDataset(x, y), batch_size=chunk, shuffle=True))
    else:
        op = ParamHessian(model, None, (x, y), chunk_size=chunk)
    v = torch.randn(op.size)
    ParamHessian(model, None, (x[:chunk], y[:chunk])).matvec(v)  # warm-up: allocator, thread pool
    before = proc_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    t0 = time.perf_counter()
    hv = op.matvec(v)
    seconds = time.perf_counter() - t0
    peak = proc_kib("VmHWM")
    return {"N": n, "chunk_size": chunk, "model": model_name, "source": source, "params": op.size, "data": source,
            "rss_before_mib": before / 1024, "peak_mib": peak / 1024, "growth_mib": (peak - before) / 1024,
            "hwm_reset": reset, "seconds": seconds, "samples_per_second": n / seconds,
            "hv_norm": float(hv.norm())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="7500,15000,30000,60000")
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--model", default="mlp", help="hessianlab model name (lenet5: conv activations)")
    parser.add_argument("--source", choices=("tensors", "loader"), default="tensors")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.chunk, args.model, args.source)))
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, __file__, "--child", str(n), "--chunk", str(args.chunk), "--model", args.model,
               "--source", args.source]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"N={n:>6}: peak growth {r['growth_mib']:7.1f} MiB (RSS before {r['rss_before_mib']:.0f} MiB), "
              f"{r['samples_per_second']:.0f} samples/s")
    growth = [r["growth_mib"] for r in rows]
    summary = {"growth_ratio_largest_to_smallest_N": growth[-1] / growth[0], "max_growth_mib": max(growth)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "bench_hvp_memory.json" if args.source == "tensors" else "bench_hvp_memory_loader.json"
    (out / name).write_text(json.dumps({"threads": 2, "source": args.source, "rows": rows, **summary}, indent=2))
    print(f"growth(60k) / growth(7.5k) = {summary['growth_ratio_largest_to_smallest_N']:.2f}")


if __name__ == "__main__":
    main()
