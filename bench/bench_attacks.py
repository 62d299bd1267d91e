"""Attack throughput against torchattacks 3.5.1, and the cost of the second-order attacks.

Part 1 (ratios ``torchattacks_time / ours_time`` of medians, so >= 1 means we are not slower): FGSM and
PGD-10 (L∞, random start, α = ε/4) on M1 (28x28x1) and C1 (32x32x3), batch 256, random pixels, both
libraries alternated in one process on the same model and inputs, half the rounds in each order.

Part 2: FHSM and L2HESS (default damping / CG settings) on 1,000 Fashion-MNIST test images (random pixels
if the dataset is missing) against an M1 briefly trained on Fashion-MNIST, in batches of 250: seconds,
input-HVPs per sample, CG convergence, against FGSM on the same images.

Usage: ``python bench/bench_attacks.py [--repeats 5] [--threads 2] [--out bench/results]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import alternate, median, write_result  # noqa: E402

import torchattacks  # noqa: E402

from hessianlab.attacks import FGSM, FHSM, PGD, L2Hess  # noqa: E402
from hessianlab.data import available_datasets, load_dataset  # noqa: E402
from hessianlab.models import build_model  # noqa: E402

SHAPES = {"m1": (1, 28, 28), "c1": (3, 32, 32)}
EPS = {"m1": 0.1, "c1": 8 / 255}


def _both_orders(candidates: dict, repeats: int) -> dict[str, list[float]]:
    """``alternate`` in the given order, then in reverse, so neither side always runs first."""
    first = alternate(candidates, repeats=(repeats + 1) // 2)
    second = alternate(dict(reversed(candidates.items())), repeats=repeats // 2, warmup=0)
    return {name: first[name] + second[name] for name in candidates}


def throughput(name: str, batch: int, repeats: int) -> list[dict]:
    """FGSM and PGD-10, ours vs torchattacks, on model ``name`` with random data."""
    torch.manual_seed(0)
    model = build_model(name, in_shape=SHAPES[name], num_classes=10).eval()
    x, y = torch.rand(batch, *SHAPES[name]), torch.randint(0, 10, (batch,))
    eps = EPS[name]
    pairs = {
        "fgsm": (FGSM(eps), torchattacks.FGSM(model, eps=eps)),
        "pgd10": (PGD(eps, steps=10, alpha=eps / 4), torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=10)),
    }
    rows = []
    for attack_name, (ours, theirs) in pairs.items():
        candidates = {"ours": lambda: ours(model, x, y), "torchattacks": lambda: theirs(x, y)}
        times = _both_orders(candidates, repeats)
        ours_s, theirs_s = median(times["ours"]), median(times["torchattacks"])
        rows.append({"model": name, "attack": attack_name, "batch": batch, "eps": eps, "ours_s": ours_s,
                     "torchattacks_s": theirs_s, "ratio": theirs_s / ours_s, "times": times})
    return rows


def trained_m1(steps: int = 60) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, str]:
    """M1 after a few SGD steps on Fashion-MNIST, plus 1,000 test images (random data as a fallback)."""
    torch.manual_seed(0)
    if any(d.name == "fashion-mnist" and d.available for d in available_datasets()):
        train = load_dataset("fashion-mnist", "train", subset=steps * 128, seed=0)
        test = load_dataset("fashion-mnist", "test", subset=1000, seed=0)
        model = build_model("m1", in_shape=train.meta.shape, num_classes=10, mean=train.meta.mean, std=train.meta.std)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for idx in torch.randperm(len(train.labels)).split(128):
            optimizer.zero_grad()
            F.cross_entropy(model(train.images[idx]), train.labels[idx]).backward()
            optimizer.step()
        return model.eval(), test.images, test.labels, "fashion-mnist test (M1 after %d SGD steps)" % steps
    model = build_model("m1", in_shape=SHAPES["m1"], num_classes=10).eval()
    return model, torch.rand(1000, *SHAPES["m1"]), torch.randint(0, 10, (1000,)), "random pixels (untrained M1)"


def second_order_cost(chunk: int = 250) -> dict:
    model, x, y, source = trained_m1()
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    out: dict = {"data": source, "num_images": len(y), "chunk": chunk, "clean_accuracy": clean, "attacks": {}}
    for attack in (FGSM(0.1), FHSM(0.1), L2Hess(2.8)):  # Yao et al.: eps 0.1 (L∞) and 2.8 (L2) on MNIST
        seconds, correct, hvps, iters, converged, negative = 0.0, 0, [], [], 0, 0
        for i in range(0, len(y), chunk):
            xb, yb = x[i : i + chunk], y[i : i + chunk]
            start = time.perf_counter()
            x_adv = attack(model, xb, yb)
            seconds += time.perf_counter() - start
            with torch.no_grad():
                correct += int((model(x_adv).argmax(1) == yb).sum())
            if not isinstance(attack, FGSM):  # diagnostics (not timed): the same solve again
                info = attack.direction(model, xb, yb)
                hvps.append(info.hvps_per_sample)
                iters.append(info.cg.iterations.double())
                converged += int(info.cg.converged.sum())
                negative += info.num_negative_curvature
        row = {"describe": attack.describe(), "seconds": seconds, "robust_accuracy": correct / len(y)}
        if hvps:
            iters_all = torch.cat(iters)
            row.update(hvps_per_sample=sum(hvps) / len(hvps), hvps_per_sample_max_over_chunks=max(hvps),
                       cg_iterations_per_sample_mean=float(iters_all.mean()),
                       cg_iterations_per_sample_max=int(iters_all.max()),
                       converged_fraction=converged / len(y), negative_curvature_samples=negative)
        out["attacks"][attack.name] = row
    fgsm_s = out["attacks"]["fgsm"]["seconds"]
    for name in ("fhsm", "l2hess"):
        out["attacks"][name]["seconds_vs_fgsm"] = out["attacks"][name]["seconds"] / fgsm_s
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = throughput("m1", args.batch, args.repeats) + throughput("c1", args.batch, args.repeats)
    second = second_order_cost()
    path = write_result(args.out, "attacks", {"throughput": rows, "second_order": second})
    for r in rows:
        print(f"{r['model']:3s} {r['attack']:6s} ours {r['ours_s']:.3f}s  torchattacks {r['torchattacks_s']:.3f}s  "
              f"ratio {r['ratio']:.2f}")
    for name, r in second["attacks"].items():
        extra = f"  hvps/sample {r['hvps_per_sample']:.1f}  x FGSM {r['seconds_vs_fgsm']:.1f}" if "hvps_per_sample" in r else ""
        print(f"{name:7s} {r['seconds']:.2f}s on {second['num_images']} images  acc {r['robust_accuracy']:.3f}{extra}")
    print(path)


if __name__ == "__main__":
    main()
