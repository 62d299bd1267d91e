"""Wall time of the ``full`` presets on 2 CPU cores, EXTRAPOLATED from measured fractions.

The ``full`` presets of yao-batch-sweep (LeNet-5) and kamath-counterexample (StdCNN) train on all 60,000
Fashion-MNIST images and take the top-20 Hessian spectrum over all of them: many hours on 2 cores, more than a
working session. This benchmark measures small fractions of that work on the real data and scales them by the
preset's own per-sample counts (:func:`hessianlab.experiments.plan.plan_jobs`):

* one SGD step at every batch size of the preset (a plain loop: forward, cross-entropy, backward, SGD with the
  preset's momentum), over about ``--step-samples`` samples per batch size, from a model trained for one
  epoch at B = 128 on ``--fit-images`` images;
* one evaluation forward pass, one gradient pass and one Hessian-vector product of the full-set operator
  (:class:`~hessianlab.curvature.ParamHessian`, eval mode, chunks of 1,024 as the eigs analysis builds it) over the
  first ``--pass-images`` training images, per sample;
* the number of products of one top-20 solve at tol 1e-4 (and top-1, top-2 at the analyses' defaults) on a
  ``--solve-images`` subset, beside the plan's assumption of 20 + 3k.

The process tunes glibc's allocator first (:func:`hessianlab.allocator.tune_allocator`), as the ``hessianlab``
command and its workers do. Extrapolation: a job costs its plan counts times measured seconds. A training job:
``updates x step seconds + eval samples x eval seconds per sample`` (at the epoch cap: an upper bound for runs
that stop at ``target_loss``). An analysis job: Hessian and input products at the HVP cost per sample, attack
steps at the gradient cost, evaluations at the forward cost, with the plan's 20 + 3k products per solve
replaced by the measured count. A pass is linear in the data, so per-sample costs measured on
``--pass-images`` images hold for 60,000.

JSON (``bench/results/full_fraction.json``): per study ``measured`` (per-sample seconds, step seconds per
batch size, products per solve), ``jobs`` (seconds per job), ``hours`` (training, analyses, total) and the
label ``EXTRAPOLATED ...``.

Usage: ``python bench/bench_full_fraction.py [--threads 2] [--pass-images 6000] [--solve-images 1024]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hessianlab.allocator import tune_allocator
from hessianlab.commands.reproduce import spec_paths
from hessianlab.curvature import ParamHessian, top_eigenpairs
from hessianlab.curvature.param_hessian import gradient
from hessianlab.data import load_dataset
from hessianlab.experiments.plan import plan_jobs, solver_matvecs
from hessianlab.experiments.spec import load_spec
from hessianlab.models import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import write_result  # noqa: E402

STUDIES = {"yao-batch-sweep": "lenet5", "kamath-counterexample": "stdcnn"}
CHUNK = 1024  # the eigs analysis's chunk_size (hessian_operator's default): several chunks, forward-over-reverse
log = logging.getLogger("bench_full_fraction")


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _model(name: str, meta: Any) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, in_shape=(1, 28, 28), num_classes=10, mean=meta.mean, std=meta.std)


def step_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, momentum: float,
                 samples: int) -> float:
    """Median seconds of one SGD step at ``batch`` (after one warm-up step), over about ``samples`` samples."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=momentum)  # tiny lr: the model barely moves
    gen = torch.Generator().manual_seed(0)
    steps = max(3, samples // batch)
    model.train()
    times = []
    for i in range(steps + 1):
        idx = torch.randint(0, x.shape[0], (batch,), generator=gen)

        def step() -> None:
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()

        seconds = _timed(step)
        if i:
            times.append(seconds)
    model.eval()
    times.sort()
    return times[len(times) // 2]


def measure(study: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = load_spec(spec_paths()[study], "full")
    model_name = STUDIES[study]
    train = load_dataset("fashion-mnist", "train")
    x, y = train.images, train.labels
    model = _model(model_name, train.meta)
    fit = x[: args.fit_images], y[: args.fit_images]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for idx in torch.randperm(fit[0].shape[0], generator=torch.Generator().manual_seed(0)).split(128):
        opt.zero_grad()
        F.cross_entropy(model(fit[0][idx]), fit[1][idx]).backward()
        opt.step()
    model.eval()
    by_run = {p.name: p.config for p in spec.expand()}
    momentum = next(iter(by_run.values())).momentum
    batches = sorted({c.batch_size for c in by_run.values()})
    steps = {b: step_seconds(model, x, y, b, momentum, args.step_samples) for b in batches}
    log.info("%s: step seconds %s", study, steps)

    px, py = x[: args.pass_images], y[: args.pass_images]
    with torch.no_grad():
        eval_s = _timed(lambda: [model(c) for c in px.split(2000)])
    op = ParamHessian(model, F.cross_entropy, (px, py), mode="eval", chunk_size=CHUNK)
    grad_s = _timed(lambda: gradient(op))
    v = torch.randn(op.size)
    op.matvec(v)  # warm-up (and the cached path's graph, if it picks one)
    hvp_s = _timed(lambda: op.matvec(v))
    per_sample = {"eval": eval_s / px.shape[0], "gradient": grad_s / px.shape[0], "hvp": hvp_s / px.shape[0]}
    log.info("%s: per-sample seconds %s (hvp method %s)", study, per_sample, op.settings.get("hvp_method_used"))

    sx, sy = x[: args.solve_images], y[: args.solve_images]
    solve_op = ParamHessian(model, F.cross_entropy, (sx, sy), mode="eval", chunk_size=CHUNK)
    products = {}
    for k, tol in ((20, 1e-4), (1, 1e-3), (2, 1e-3)):
        result = top_eigenpairs(solve_op, k, tol=tol)
        products[k] = {"tol": tol, "num_matvecs": result.num_matvecs, "plan_assumes": solver_matvecs(k),
                       "converged": result.converged, "seconds": result.seconds}
    log.info("%s: products per solve %s", study, products)

    jobs, train_h, analysis_h = [], 0.0, 0.0
    analyses = {a.id: a for a in spec.analyses}
    for job in plan_jobs(spec):
        c = job.counts
        if job.stage == "train":  # the plan's updates and per-epoch evaluations, at the epoch cap
            seconds = (c.updates * steps[by_run[job.run].batch_size] + c.eval_samples * per_sample["eval"]
                       + c.hessian_products * per_sample["hvp"])
            train_h += seconds / 3600
        else:
            a = analyses[job.stage]
            hvp_products = c.hessian_products
            k = a.params.get("k") if a.kind in ("eigs", "subsampled") else None
            if k in products:  # the plan's 20 + 3k replaced by the measured count
                hvp_products = c.hessian_products * products[k]["num_matvecs"] / solver_matvecs(k)
            seconds = (hvp_products * per_sample["hvp"] + c.input_products * per_sample["hvp"]
                       + c.attack_steps * per_sample["gradient"] + c.eval_samples * per_sample["eval"])
            analysis_h += seconds / 3600
        jobs.append({"run": job.run, "job": job.stage, "seconds": seconds, "counts": dataclasses.asdict(c)})
    return {
        "model": model_name, "batch_sizes": batches,
        "measured": {"step_seconds": {str(b): s for b, s in steps.items()}, "per_sample_seconds": per_sample,
                     "pass_images": int(px.shape[0]), "hvp_method": op.settings.get("hvp_method_used"),
                     "products_per_solve": {str(k): v for k, v in products.items()},
                     "solve_images": int(sx.shape[0])},
        "jobs": jobs,
        "hours": {"training": train_h, "analyses": analysis_h, "total": train_h + analysis_h},
        "label": (f"EXTRAPOLATED to 60,000 images from measured fractions (SGD steps over ~{args.step_samples} "
                  f"samples per batch size, passes over {px.shape[0]} images, solves on {sx.shape[0]}); "
                  "training at the epoch cap (an upper bound where runs stop at target_loss)"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fit-images", type=int, default=8192)
    ap.add_argument("--step-samples", type=int, default=8192)
    ap.add_argument("--pass-images", type=int, default=6000)
    ap.add_argument("--solve-images", type=int, default=1024)
    ap.add_argument("--studies", default=",".join(STUDIES))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    tuned = tune_allocator()  # as the hessianlab command and its workers run
    payload = {"allocator_tuned": tuned, "studies": {s: measure(s, args) for s in args.studies.split(",")}}
    path = write_result(args.out, "full_fraction", payload)
    for study, r in payload["studies"].items():
        log.info("%s: %.1f h (training %.1f h, analyses %.1f h)", study, r["hours"]["total"], r["hours"]["training"],
                 r["hours"]["analyses"])
    log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
