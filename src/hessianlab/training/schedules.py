"""Learning-rate and batch-size schedules.

Schedules look like PyTorch LR schedulers in that they are small objects with ``state_dict`` /
``load_state_dict`` for checkpointing, but they are *queried* rather than stepped: the trainer asks for
the value before every SGD update, passing a :class:`ScheduleState`. That makes per-iteration policies
(warm-up) and measurement-driven policies (adaptive batch size, which also implement ``observe``) fit
the same interface, and the batch size is a schedule exactly like the learning rate.

Spec strings (CLI and config files):

* LR: ``constant``, ``step:EVERY:FACTOR`` (multiply by FACTOR every EVERY epochs, e.g. ``step:5:0.5`` is
  Yao et al.'s "halve every 5 epochs"), ``ratio:R`` (lr = R x current batch size, Kamath et al.'s
  constant LR/batch-size ratio; the base ``lr`` is ignored).
* batch size: ``constant``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from hessianlab.errors import ConfigError


@dataclass(frozen=True)
class ScheduleState:
    """Where training is when a schedule is queried.

    ``epoch`` counts from 0; ``update`` is the number of SGD updates done so far (the next update has this
    index); ``samples_seen`` counts training samples consumed; ``batch_size`` is the size of the batch
    about to be used (for LR queries) or of the previous one (for batch-size queries).
    """

    epoch: int
    update: int
    samples_seen: int
    batch_size: int


class LRSchedule(Protocol):
    """A learning-rate policy: ``lr(state)`` in units of the optimizer's step size."""

    def lr(self, state: ScheduleState) -> float: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class BatchSchedule(Protocol):
    """A batch-size policy: ``batch_size(state)`` in samples per SGD update."""

    def batch_size(self, state: ScheduleState) -> int: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class _Stateless:
    """Mixin for schedules that are pure functions of :class:`ScheduleState`."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state


@dataclass(frozen=True)
class ConstantLR(_Stateless):
    """``lr`` at every update."""

    base_lr: float

    def lr(self, state: ScheduleState) -> float:
        return self.base_lr


@dataclass(frozen=True)
class StepLR(_Stateless):
    """``base_lr * factor ** (epoch // every)``: step decay by epochs."""

    base_lr: float
    every: int
    factor: float

    def lr(self, state: ScheduleState) -> float:
        return self.base_lr * self.factor ** (state.epoch // self.every)


@dataclass(frozen=True)
class RatioLR(_Stateless):
    """``ratio * batch_size``: a constant learning-rate to batch-size ratio (Kamath et al. 2019)."""

    ratio: float

    def lr(self, state: ScheduleState) -> float:
        return self.ratio * state.batch_size


@dataclass(frozen=True)
class ConstantBatch(_Stateless):
    """The same batch size for every update."""

    size: int

    def batch_size(self, state: ScheduleState) -> int:
        return self.size


def _positive(field: str, text: str, kind: type = float) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{field}: {text!r} is not a valid {kind.__name__}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{field}: must be positive, got {text}")
    return value


LR_SPECS = ("constant", "step:EVERY:FACTOR", "ratio:R")
BATCH_SPECS = ("constant",)


def parse_lr_schedule(spec: str, base_lr: float) -> LRSchedule:
    """Build an LR schedule from its spec string (see module docstring)."""
    parts = spec.split(":")
    if parts == ["constant"]:
        return ConstantLR(base_lr)
    if parts[0] == "step" and len(parts) == 3:
        every = _positive("lr_schedule step EVERY", parts[1], int)
        return StepLR(base_lr, every, _positive("lr_schedule step FACTOR", parts[2]))
    if parts[0] == "ratio" and len(parts) == 2:
        return RatioLR(_positive("lr_schedule ratio R", parts[1]))
    raise ConfigError(f"lr_schedule: unknown spec {spec!r}; allowed: {', '.join(LR_SPECS)}")


def parse_batch_schedule(spec: str, batch_size: int) -> BatchSchedule:
    """Build a batch-size schedule from its spec string (see module docstring)."""
    if spec == "constant":
        return ConstantBatch(batch_size)
    raise ConfigError(f"batch_schedule: unknown spec {spec!r}; allowed: {', '.join(BATCH_SPECS)}")
