"""Per-sample costs that turn a plan's counts (:mod:`hessianlab.experiments.plan`) into time estimates.

``hessianlab plan --calibrate`` measures, on the current device, for each model of the spec at its input shape
and class count, the seconds per sample of: a training step (forward, backward, SGD update), an evaluation
forward, a Hessian-vector product (forward-over-reverse, as the curvature operators) and an attack step (the
input gradient). Batches of :data:`BATCH` random inputs, median of a few repeats after a warm-up; a short run
(seconds per model on a CPU). The figures go into a JSON file under the device's name (``cpu (2 threads)``,
``cuda: NVIDIA H200``), so one file can hold several device kinds and a plan shows one column per kind.

Without any calibration the plan still gives :data:`ASSUMED_DEVICE`: the forward FLOPs of each model (counted
with :class:`torch.utils.flop_counter.FlopCounterMode`) times the work of each counter in forward
equivalents (:data:`FORWARD_EQUIVALENTS`) at :data:`ASSUMED_FLOPS` sustained.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch.func import functional_call, grad, jvp
from torch.utils.flop_counter import FlopCounterMode

from hessianlab import atomic
from hessianlab.attacks.base import input_gradient
from hessianlab.errors import ConfigError
from hessianlab.experiments.plan import Counts, Job
from hessianlab.models import build_model

BATCH = 32
#: work per sample of each counter, in forward passes (a gradient ~ 3, a Hessian-vector product ~ 2 gradients)
FORWARD_EQUIVALENTS = {"train_samples": 3.0, "eval_samples": 1.0, "hessian_products": 6.0, "input_products": 6.0,
                       "attack_steps": 3.0}
#: sustained FLOP/s of the assumed GPU: half of an A100's 19.5 TFLOP/s FP32 peak (small CNNs rarely reach more)
ASSUMED_FLOPS = 10e12
ASSUMED_DEVICE = "GPU, assumed 10 TFLOP/s"


def device_kind(device: torch.device) -> str:
    """A device's calibration name: ``cpu (N threads)`` or ``cuda: <GPU name>``."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"{device.type} ({torch.get_num_threads()} threads)"


def _model(job: Job, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    channels = job.shape[0] if len(job.shape) == 3 else 1
    model = build_model(job.model, in_shape=job.shape, num_classes=job.classes, width=job.width,
                        mean=(0.5,) * channels, std=(0.25,) * channels)
    return model.to(device)


def forward_flops(job: Job) -> float:
    """Forward FLOPs per sample of ``job``'s model (eval mode, CPU, counted on a batch of 2)."""
    model = _model(job, torch.device("cpu")).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.rand(2, *job.shape))
    return counter.get_total_flops() / 2


def _timed(fn: Any, device: torch.device, repeats: int = 3) -> float:
    """Median seconds of ``fn()`` after one warm-up call."""
    times = []
    for i in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(job: Job, device: torch.device) -> dict[str, float]:
    """Seconds per sample of a training step, an evaluation, a Hessian-vector product and an attack step."""
    model = _model(job, device)
    x = torch.rand(BATCH, *job.shape, device=device)
    y = torch.randint(0, job.classes, (BATCH,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    vector = {k: torch.randn_like(v) for k, v in params.items()}

    def hvp() -> None:
        loss = lambda p: loss_fn(functional_call(model, (p, buffers), (x,)), y)  # noqa: E731
        jvp(grad(loss), (params,), (vector,))

    def evaluate() -> None:
        with torch.no_grad():
            model(x)

    model.train()
    costs = {"train": _timed(train_step, device)}
    model.eval()
    costs.update(eval=_timed(evaluate, device), hvp=_timed(hvp, device),
                 attack=_timed(lambda: input_gradient(model, x, y, None), device))
    return {k: v / BATCH for k, v in costs.items()}


def calibrate(jobs: list[Job], device: torch.device, file: Path) -> dict[str, Any]:
    """Measure every model of ``jobs`` on ``device`` and merge the figures into ``file``; returns its content."""
    data = load(file)
    kind = device_kind(device)
    models = data.setdefault("devices", {}).setdefault(kind, {"torch": torch.__version__, "models": {}})["models"]
    for job in {j.model_key: j for j in jobs}.values():
        models[job.model_key] = measure(job, device)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(file, data)
    return data


def load(file: Path) -> dict[str, Any]:
    """A calibration file's content (``{}`` when there is none)."""
    if not file.is_file():
        return {}
    data = atomic.read_json(file)
    if not isinstance(data, dict) or not isinstance(data.get("devices", {}), dict):
        raise ConfigError(f"{file}: not a hessianlab calibration file; delete it and run hessianlab plan --calibrate")
    return data


def seconds(counts: Counts, costs: dict[str, float]) -> float:
    """Estimated seconds of ``counts`` with measured per-sample ``costs`` (train, eval, hvp, attack)."""
    return (counts.train_samples * costs["train"] + counts.eval_samples * costs["eval"]
            + (counts.hessian_products + counts.input_products) * costs["hvp"] + counts.attack_steps * costs["attack"])


def assumed_seconds(counts: Counts, flops_per_sample: float) -> float:
    """Estimated seconds of ``counts`` on :data:`ASSUMED_DEVICE` from the model's forward FLOPs per sample."""
    work = sum(getattr(counts, name) * factor for name, factor in FORWARD_EQUIVALENTS.items())
    return work * flops_per_sample / ASSUMED_FLOPS
