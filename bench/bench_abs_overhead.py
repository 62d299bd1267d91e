"""What ABS's eigenvalue checks cost: full Hessian vs the block Hessian of the last two layers, and vs BL.

Three trainings through the real trainer (:func:`hessianlab.training.train`, run folders in a temporary
directory), alternated ``--repeats`` times in one process with ``torch.set_num_threads(--threads)``:

* ``abs_full``:  ABS (``batch_schedule=abs``), top eigenvalue of the Hessian of all parameters;
* ``abs_block``: ABS with ``abs_eig_params`` = the last two layers (``^fc[23]\\.``: LeNet-5's fc2 + fc3,
  11,014 of 61,706 parameters; the MLP's fc2 + fc3 in the fallback);
* ``abs_warm``:  ``abs_full`` with ``abs_eig_warm``: every check after the first starts from the previous
  check's Ritz vector (same stopping rule);
* ``bl``:        the same model, data and LR with a constant batch (no eigenvalue checks).

LeNet-5 on a Fashion-MNIST subset (MLP on MNIST-1D when Fashion-MNIST is absent). Every variant reports
median total training seconds (the trainer's ``wall_seconds``: updates, per-epoch evaluation, checks),
median seconds in eigen-solves (the decision records' ``seconds``), their ratio in percent, the number of
checks, Hessian-vector products, seconds per product, updates, and final losses. Ratios: block / full
eigen-seconds, products and seconds per product, warm / cold products and eigen-seconds, and each variant's
eigen-seconds / BL's total seconds.
The two ABS variants measure different curvature, so their decisions and batch-size trajectories (and
update counts) may differ; the per-product cost is the like-for-like comparison.

Usage: ``python bench/bench_abs_overhead.py [--subset 1024] [--epochs 2] [--every 256] [--eig-samples 256]
[--repeats 2] [--out bench/results] [--name abs_overhead] [--note TEXT]`` (defaults sized for a shared 2-core
machine). One check per epoch on all 60,000 images: ``--subset 60000 --test-subset 10000 --every 60000
--eig-samples 2048 --eig-chunk 2048 --name abs_overhead_60k``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import median, write_result  # noqa: E402

from hessianlab.allocator import tune_allocator  # noqa: E402
from hessianlab.data import locate  # noqa: E402
from hessianlab.experiments.store import RunDir  # noqa: E402
from hessianlab.training import TrainConfig, train  # noqa: E402
from hessianlab.training.factory import load_splits, meta_to_dict  # noqa: E402

BLOCK = r"^fc[23]\."


def configs(args: argparse.Namespace) -> dict[str, TrainConfig]:
    """The four variants; LeNet-5 / Fashion-MNIST, or MLP / MNIST-1D without Fashion-MNIST's files."""
    fashion = locate("fashion-mnist") is not None
    common: dict[str, Any] = dict(
        model="lenet5" if fashion else "mlp", dataset="fashion-mnist" if fashion else "mnist1d",
        subset=args.subset, test_subset=args.test_subset, batch_size=args.batch_size, lr=0.01, momentum=0.9,
        max_epochs=args.epochs, target_loss=None, seed=0)
    abs_kw: dict[str, Any] = dict(batch_schedule="abs", abs_every=args.every, abs_eig_samples=args.eig_samples,
                                  abs_batch_max=args.batch_max, abs_eig_chunk=args.eig_chunk)
    return {"abs_full": TrainConfig(**common, **abs_kw),
            "abs_block": TrainConfig(**common, **abs_kw, abs_eig_params=BLOCK),
            "abs_warm": TrainConfig(**common, **abs_kw, abs_eig_warm=True),
            "bl": TrainConfig(**common)}


def measure(config: TrainConfig, data: tuple[Any, Any], root: Path, name: str) -> dict[str, Any]:
    """Train ``config`` once into ``root/name`` on the CPU; the run's costs and outcome."""
    run = RunDir.create(root / name, config, meta_to_dict(data[0].meta))
    result = train(config, run, *data, resume=False, device="cpu")
    decisions = run.decisions() if config.batch_schedule == "abs" else []
    total = result.final["wall_seconds"]
    eig = sum(d["seconds"] for d in decisions)
    return {"total_seconds": total, "eig_seconds": eig, "checks": len(decisions),
            "matvecs": sum(d["matvecs"] for d in decisions), "updates": result.updates,
            "final_batch_size": result.final["batch_size"], "train_loss": result.final["train_loss"],
            "test_acc": result.final["test_acc"], "eigenvalues": [d["eigenvalue"] for d in decisions]}


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repeats (times), plus the counts of the first repeat (deterministic across repeats)."""
    first = samples[0]
    total, eig = median([s["total_seconds"] for s in samples]), median([s["eig_seconds"] for s in samples])
    out = {k: first[k] for k in ("checks", "matvecs", "updates", "final_batch_size", "train_loss", "test_acc")}
    out.update(total_seconds=total, eig_seconds=eig, eig_percent=100.0 * eig / total,
               seconds_per_matvec=eig / first["matvecs"] if first["matvecs"] else None,
               total_seconds_all=[s["total_seconds"] for s in samples],
               eig_seconds_all=[s["eig_seconds"] for s in samples],
               total_seconds_spread=statistics.pstdev(s["total_seconds"] for s in samples))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=1024)
    parser.add_argument("--test-subset", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batch-max", type=int, default=1024)
    parser.add_argument("--every", type=int, default=256, help="ABS check every N samples")
    parser.add_argument("--eig-samples", type=int, default=256, help="samples of the probe's Hessian")
    parser.add_argument("--eig-chunk", type=int, default=1024, help="samples per product chunk of the probe")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--name", default="abs_overhead", help="result file name (without .json)")
    parser.add_argument("--note", default="shared 2-core machine under load from other jobs: absolute seconds "
                                          "are noisy, ratios less so", help="machine conditions, for the JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tune_allocator()  # as the CLI and the experiment workers do
    torch.set_num_threads(args.threads)
    variants = configs(args)
    data = load_splits(variants["bl"])
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):  # alternate the variants so machine load hits them alike
            for name, config in variants.items():
                runs[name].append(measure(config, data, Path(tmp), f"{name}-{repeat}"))
                print(f"repeat {repeat} {name}: {runs[name][-1]['total_seconds']:.1f} s total, "
                      f"{runs[name][-1]['eig_seconds']:.1f} s eigen-solves", flush=True)
    rows = {name: summarise(samples) for name, samples in runs.items()}
    full, block, warm, bl = rows["abs_full"], rows["abs_block"], rows["abs_warm"], rows["bl"]
    ratios = {
        "block_over_full_eig_seconds": block["eig_seconds"] / full["eig_seconds"],
        "block_over_full_matvecs": block["matvecs"] / full["matvecs"],
        "block_over_full_seconds_per_matvec": block["seconds_per_matvec"] / full["seconds_per_matvec"],
        "full_eig_seconds_over_bl_total": full["eig_seconds"] / bl["total_seconds"],
        "block_eig_seconds_over_bl_total": block["eig_seconds"] / bl["total_seconds"],
        "full_total_over_bl_total": full["total_seconds"] / bl["total_seconds"],
        "block_total_over_bl_total": block["total_seconds"] / bl["total_seconds"],
        "warm_over_cold_matvecs": warm["matvecs"] / full["matvecs"],
        "warm_over_cold_eig_seconds": warm["eig_seconds"] / full["eig_seconds"],
        "warm_eig_seconds_over_bl_total": warm["eig_seconds"] / bl["total_seconds"],
    }
    cfg = variants["abs_full"]
    payload = {
        "model": cfg.model, "dataset": cfg.dataset, "subset": cfg.subset, "epochs": cfg.max_epochs,
        "batch_size": cfg.batch_size, "abs_every": cfg.abs_every, "abs_eig_samples": cfg.abs_eig_samples,
        "abs_eig_tol": cfg.abs_eig_tol, "abs_eig_method": cfg.abs_eig_method, "abs_eig_chunk": cfg.abs_eig_chunk,
        "block_params": BLOCK, "repeats": args.repeats,
        "args": {k: v for k, v in vars(args).items() if k not in ("out", "note")}, "rows": rows,
        "ratios": ratios, "note": args.note,
    }
    path = write_result(args.out, args.name, payload)
    for name, row in rows.items():
        print(f"{name}: {row['total_seconds']:.1f} s total, {row['eig_seconds']:.1f} s in {row['checks']} "
              f"eigen-solves ({row['eig_percent']:.1f} %), {row['matvecs']} HVPs, {row['updates']} updates")
    print(", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
