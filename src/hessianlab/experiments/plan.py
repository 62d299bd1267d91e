"""What a sweep will cost before it runs: per job, the samples processed, SGD updates, Hessian products and attack
steps (``hessianlab plan``), from the spec alone (no training, no dataset files).

Counts are per-sample work, for the preset as written:

* training job: ``train_samples`` = N x E forward+backward passes (N training samples, E = ``max_epochs``);
  ``updates`` = sum over epochs of ceil(N / B(e)) for the batch-size schedule (ABS: at its initial batch,
  an upper bound); ``eval_samples`` = (N + N_test) x E forward passes (the per-epoch full-set evaluation);
  ``hessian_products`` = per-sample Hessian-vector products of ``track_lambda1`` (and its block) and of ABS's
  eigenvalue checks; ``attack_steps`` = per-sample attack gradients of adversarial training.
* analysis job: the same counters for ``eigs``, ``subsampled``, ``input_stats`` (input-Hessian products),
  ``attack`` (samples x steps x radii x splits), ``landscape`` (eigen-directions, then points x samples
  forward) and ``theorem1`` (one input-Hessian product per input dimension per sample).

Stopping at ``target_loss`` ends runs earlier, so training counts are upper bounds. Eigen-solves run an unknown
number of Lanczos steps; the plan assumes :func:`solver_matvecs` = 20 + 3k products for the top-k (measured
here: k = 20 at tol 1e-4 took 81, k = 1-2 at tol 1e-3 took 12-24); warm-started tracking and ABS checks
(``track_lambda1_warm``, ``abs_eig_warm``) need fewer, so the plan is an upper bound for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from hessianlab.data.registry import load_dataset
from hessianlab.experiments.spec import Spec
from hessianlab.training.config import TrainConfig
from hessianlab.training.factory import schedules_from_config
from hessianlab.training.schedules import ScheduleState

#: (train size, test size, input shape, classes) of the datasets that live in files, as distributed
OFFICIAL = {
    "cifar10": (50_000, 10_000, (3, 32, 32), 10), "cifar100": (50_000, 10_000, (3, 32, 32), 100),
    "svhn": (73_257, 26_032, (3, 32, 32), 10), "mnist": (60_000, 10_000, (1, 28, 28), 10),
    "fashion-mnist": (60_000, 10_000, (1, 28, 28), 10), "tinyimagenet": (100_000, 10_000, (3, 64, 64), 200),
}
#: per-sample attack gradients (input-Hessian products for the second-order ones) of one attack at default settings
ATTACK_STEPS = {"fgsm": 1, "ifgsm": 10, "pgd": 10, "l2grad": 1, "fhsm": 21, "l2hess": 21}


@dataclass
class Counts:
    """Per-sample work of one job (see the module docstring)."""

    train_samples: int = 0
    updates: int = 0
    eval_samples: int = 0
    hessian_products: int = 0
    input_products: int = 0
    attack_steps: int = 0

    def __iadd__(self, other: "Counts") -> "Counts":
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


@dataclass(frozen=True)
class Job:
    """One job of the plan: a run's training or one analysis of it, on the model ``model`` for ``shape``."""

    run: str
    stage: str
    model: str
    width: float
    shape: tuple[int, ...]
    classes: int
    counts: Counts

    @property
    def model_key(self) -> str:
        """``MODEL[xWIDTH]@CxHxW/CLASSES``: what a calibration entry is measured for."""
        width = "" if self.width == 1.0 else f"x{self.width:g}"
        return f"{self.model}{width}@{'x'.join(map(str, self.shape))}/{self.classes}"


def solver_matvecs(k: int) -> int:
    """Assumed Hessian-vector products of one top-``k`` Lanczos solve (see the module docstring)."""
    return 20 + 3 * k


def dataset_facts(name: str) -> tuple[int, int, tuple[int, ...], int]:
    """(train size, test size, input shape, classes): official sizes for file datasets, else generated."""
    if name in OFFICIAL:
        return OFFICIAL[name]
    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    return len(train), len(test), tuple(train.meta.shape), len(train.meta.classes)


def _size(subset: int | None, total: int) -> int:
    return total if subset is None else min(subset, total)


def _samples(value: Any, total: int) -> int:
    return total if value in (None, "all") else min(int(value), total)


def training_counts(config: TrainConfig, n_train: int, n_test: int) -> Counts:
    """The per-sample work of training ``config`` for ``max_epochs`` epochs."""
    n, epochs = _size(config.subset, n_train), config.max_epochs
    _, batches = schedules_from_config(config, n)
    updates = 0
    for epoch in range(epochs):
        size = config.batch_size if config.batch_schedule == "abs" else batches.batch_size(
            ScheduleState(epoch, updates, epoch * n, config.batch_size))
        updates += math.ceil(n / size)
    evaluated = (n + _size(config.test_subset, n_test)) * epochs
    counts = Counts(train_samples=n * epochs, updates=updates, eval_samples=evaluated)
    if config.track_lambda1 is not None:
        per_epoch = solver_matvecs(1) * _samples(config.track_lambda1, n)
        counts.hessian_products += per_epoch * epochs * (2 if config.track_lambda1_params else 1)
    if config.batch_schedule == "abs":
        checks = epochs * max(1, n // (config.abs_every or n))
        counts.hessian_products += checks * solver_matvecs(1) * _samples(config.abs_eig_samples, n)
    if config.adversarial is not None:
        counts.attack_steps = math.ceil(config.adv_ratio * n) * epochs * ATTACK_STEPS[config.adversarial]
    return counts


def analysis_counts(kind: str, p: dict[str, Any], n: dict[str, int], input_dim: int) -> Counts:
    """The per-sample work of one analysis with parameters ``p`` on a run with split sizes ``n``."""
    c = Counts()
    if kind in ("eigs", "subsampled"):
        for s in (p["samples"] if kind == "subsampled" else [p["samples"]]):
            c.hessian_products += solver_matvecs(p["k"]) * _samples(s, n[p["split"]])
    elif kind == "input_stats":
        s = _samples(p["samples"], n[p["split"]])
        c.input_products, c.attack_steps = solver_matvecs(1) * s, s
    elif kind == "theorem1":
        c.input_products = input_dim * _samples(p["samples"], n[p["split"]])
    elif kind == "attack":
        for split in p["splits"]:
            for method in p["methods"]:
                steps = p["steps"] if p["steps"] is not None and method in ("ifgsm", "pgd") else ATTACK_STEPS[method]
                c.attack_steps += _samples(p["samples"], n[split]) * steps * len(p["eps"])
            c.eval_samples += _samples(p["samples"], n[split]) * (len(p["eps"]) + 1)
    elif kind == "landscape":
        grid = p["points"] ** 2 if p["type"] == "plane" else p["points"]
        for split in p["splits"]:
            c.eval_samples += grid * _samples(p["eval_samples"], n[split])
        if p["type"] != "interpolate":
            c.hessian_products = solver_matvecs(2 if p["type"] == "plane" else 1) * _samples(p["samples"], n["train"])
    return c


def plan_jobs(spec: Spec) -> list[Job]:
    """Every job of ``spec`` (its preset applied): each run's training, then each analysis that applies to it."""
    jobs = []
    for plan in spec.expand():
        cfg = plan.config
        n_train, n_test, shape, classes = dataset_facts(cfg.dataset)
        n = {"train": _size(cfg.subset, n_train), "test": _size(cfg.test_subset, n_test)}
        training = training_counts(cfg, n_train, n_test)
        jobs.append(Job(plan.name, "train", cfg.model, cfg.width, shape, classes, training))
        for a in spec.analyses:
            if a.applies(plan.point):
                counts = analysis_counts(a.kind, a.params, n, math.prod(shape))
                jobs.append(Job(plan.name, a.id, cfg.model, cfg.width, shape, classes, counts))
    return jobs
