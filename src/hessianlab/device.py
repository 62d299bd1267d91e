"""The execution device: ``--device auto|cpu|cuda|cuda:N`` (or ``$HESSIANLAB_DEVICE``), resolved and prepared.

The device is an *execution option*, not part of a run's configuration: it never enters ``TrainConfig`` or
its hash, so a run trained on a GPU is found (and resumed) by the same config as on a CPU. Where it was
computed is recorded beside the numbers instead (``device`` in the epoch records and in ``status.json``).

Resolution (:func:`resolve_device`): an explicit value, else ``$HESSIANLAB_DEVICE``, else ``auto``;
``auto`` is ``cuda`` when ``torch.cuda.is_available()`` and the CPU otherwise; ``cuda`` is ``cuda:0`` in one
process and ``cuda:LOCAL_RANK`` under ``torchrun``. Asking for CUDA where there is none, or for a device
index that does not exist, is a one-line :class:`~hessianlab.errors.ConfigError`.

Determinism (:func:`prepare_device`): on the CPU nothing is changed, so CPU results stay bitwise identical
run to run. On CUDA the process is switched to deterministic kernels where PyTorch has them: cuDNN's
autotuner off and its deterministic algorithms on, and ``torch.use_deterministic_algorithms(True,
warn_only=True)``, which needs ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (set here unless the environment already
sets it; it only takes effect if no cuBLAS work ran before in the process). An operation without a
deterministic CUDA kernel warns instead of failing. Same config, same device type and same software stack
then give the same numbers; CPU and CUDA results differ by rounding (and CUDA generators draw other random
numbers than CPU ones, e.g. for augmentation), so bitwise equality holds per device, not across devices.

Moving things: :func:`to_device` moves nested containers of tensors (a checkpoint is always written with
CPU tensors and read back with ``map_location='cpu'``); :func:`place_datasets` puts in-memory datasets on
the device once when they are small enough (:data:`RESIDENT_BYTES`), else they stay on the CPU and each
batch is moved when it is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Mapping
from typing import TypeVar

import torch

from hessianlab.errors import ConfigError

DEVICE_ENV = "HESSIANLAB_DEVICE"
RESIDENT_BYTES = 2 * 1024**3  # datasets up to 2 GiB in all live on the device (Fashion-MNIST: 0.2, CIFAR-10: 0.7)
_CUBLAS_ENV, _CUBLAS_DETERMINISTIC = "CUBLAS_WORKSPACE_CONFIG", ":4096:8"
_SPEC = re.compile(r"(auto|cpu|cuda)(?::(\d+))?")

T = TypeVar("T")


def _torchrun_local_rank(env: Mapping[str, str]) -> int | None:
    """``LOCAL_RANK`` when ``torchrun`` started more than one process, else ``None`` (malformed variables are
    left for :func:`hessianlab.distributed.init_from_env` to report)."""
    try:
        return int(env["LOCAL_RANK"]) if int(env.get("WORLD_SIZE", "1")) > 1 else None
    except (KeyError, ValueError):
        return None


def resolve_device(spec: str | torch.device | None = None, *, env: Mapping[str, str] | None = None) -> torch.device:
    """The :class:`torch.device` that ``spec`` names (see the module docstring); no side effects.

    ``spec``: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, a :class:`torch.device`, or ``None`` for
    ``$HESSIANLAB_DEVICE`` (default ``auto``). ``env`` replaces ``os.environ`` (tests).
    """
    env = os.environ if env is None else env
    source = "--device"
    if spec is None:
        spec, source = env.get(DEVICE_ENV) or "auto", f"${DEVICE_ENV}"
    text = str(spec).strip().lower()
    match = _SPEC.fullmatch(text)
    if match is None or (match[2] is not None and match[1] != "cuda"):
        raise ConfigError(f"{source}: {str(spec)!r} is not a device; use auto, cpu, cuda or cuda:N")
    kind, index = match[1], None if match[2] is None else int(match[2])
    if kind == "cpu" or (kind == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"{source}: {text} requested but CUDA is not available (no GPU, or a CPU-only torch "
                          "build); use --device cpu or auto")
    count, local = torch.cuda.device_count(), _torchrun_local_rank(env)
    if local is not None:
        if index is not None and index != local:
            raise ConfigError(f"{source}: {text} under torchrun, but this process has LOCAL_RANK={local} and each "
                              "rank uses cuda:LOCAL_RANK; pass --device cuda (or auto)")
        if local >= count:
            raise ConfigError(f"LOCAL_RANK={local} but this host has {count} CUDA device(s); start at most {count} "
                              "processes per node, or use --device cpu")
        index = local
    index = 0 if index is None else index
    if index >= count:
        raise ConfigError(f"{source}: cuda:{index} does not exist; this host has {count} CUDA device(s) "
                          f"(cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


def prepare_device(device: torch.device) -> torch.device:
    """Make ``device`` this process's current device and, on CUDA, turn on deterministic kernels (module
    docstring); a no-op on the CPU. Idempotent; returns ``device``."""
    if device.type == "cuda":
        os.environ.setdefault(_CUBLAS_ENV, _CUBLAS_DETERMINISTIC)
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    return device


def select_device(spec: str | torch.device | None = None) -> torch.device:
    """:func:`resolve_device` then :func:`prepare_device`: what an entry point calls once."""
    return prepare_device(resolve_device(spec))


def to_device(obj: T, device: torch.device | str) -> T:
    """A copy of ``obj`` with every tensor inside dicts, lists and tuples moved to ``device``; other leaves
    are shared. A tensor already there is returned as it is (no copy). Dict subclasses keep their type and
    a state dict keeps its ``_metadata`` (module versions that ``load_state_dict`` reads)."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)  # type: ignore[return-value]
    if isinstance(obj, dict):
        out = type(obj)((k, to_device(v, device)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):
            out._metadata = obj._metadata  # type: ignore[attr-defined]
        return out  # type: ignore[return-value]
    if type(obj) in (list, tuple):
        return type(obj)(to_device(v, device) for v in obj)  # type: ignore[return-value, call-arg]
    return obj


def place_datasets(device: torch.device, *datasets: T, limit_bytes: int = RESIDENT_BYTES) -> tuple[T, ...]:
    """The datasets (objects with ``images`` and ``labels`` tensors, e.g. :class:`hessianlab.data.Dataset`) on
    ``device`` when their tensors take at most ``limit_bytes`` together; otherwise (or on the CPU) the
    datasets unchanged, and the caller moves each batch. The originals are never modified."""
    tensors = [t for d in datasets for t in (d.images, d.labels)]  # type: ignore[attr-defined]
    size = sum(t.element_size() * t.nelement() for t in tensors)
    if size > limit_bytes or all(d.images.device == device for d in datasets):  # type: ignore[attr-defined]
        return datasets
    return tuple(dataclasses.replace(d, images=d.images.to(device), labels=d.labels.to(device))  # type: ignore
                 for d in datasets)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda|cuda:N`` (default ``$HESSIANLAB_DEVICE``, else auto); resolve with
    :func:`select_device` in the command, so a bad value is a one-line error with exit code 2."""
    parser.add_argument("--device", default=None, metavar="DEVICE",
                        help=f"auto, cpu, cuda or cuda:N (default: ${DEVICE_ENV}, else auto = cuda if available)")
