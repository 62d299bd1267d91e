"""Learning-rate and batch-size schedules.

Schedules look like PyTorch LR schedulers in that they are small objects with ``state_dict`` /
``load_state_dict`` for checkpointing, but they are *queried* rather than stepped: the trainer asks for
the value before every SGD update, passing a :class:`ScheduleState`. That makes per-iteration policies
(warm-up) and measurement-driven policies (adaptive batch size, which also implements ``after_update``) fit
the same interface, and the batch size is a schedule exactly like the learning rate.

Spec strings (CLI and config files):

* LR: ``constant``, ``step:EVERY:FACTOR`` (multiply by FACTOR every EVERY epochs, e.g. ``step:5:0.5`` is
  Yao et al.'s "halve every 5 epochs"), ``multistep:E1,E2,...:FACTOR`` (multiply by FACTOR at each listed
  epoch, e.g. ABSA's C1 baseline "0.1, decayed by 5 at epochs 30, 60, 80" is ``multistep:30,60,80:0.2``),
  ``ratio:R`` (lr = R x current batch size, Kamath et al.'s constant LR/batch-size ratio; the base ``lr``
  is ignored).
* batch size: ``constant``; ``smith:BMAX`` (Smith et al. 2017, "don't decay the learning rate, increase
  the batch size"; needs a ``step``/``multistep`` LR decay, see :class:`SmithBatch`); ``abs`` (ABS/ABSA,
  built from the ``abs_*`` config fields by :func:`hessianlab.training.factory.schedules_from_config`).

Large-batch LR rules that wrap these (Goyal et al.'s linear scaling with warm-up, and the noise-scale
coupling of LR and batch size used by GG and ABS) live in :mod:`hessianlab.training.scaling`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
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

    def decays_at(self, epoch: int) -> int:
        """Number of decays applied by ``epoch``."""
        return epoch // self.every


@dataclass(frozen=True)
class MultiStepLR(_Stateless):
    """``base_lr * factor ** k`` where ``k`` counts the milestones ``<= epoch`` (strictly increasing epochs)."""

    base_lr: float
    milestones: tuple[int, ...]
    factor: float

    def lr(self, state: ScheduleState) -> float:
        return self.base_lr * self.factor ** self.decays_at(state.epoch)

    def decays_at(self, epoch: int) -> int:
        """Number of decays applied by ``epoch``."""
        return sum(1 for m in self.milestones if m <= epoch)


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


@dataclass(frozen=True)
class SmithBatch(_Stateless):
    """GG (Smith et al. 2017): grow the batch where the baseline decays the LR, up to ``maximum``.

    Noise-scale preserving against the baseline ``decay`` (a :class:`StepLR` / :class:`MultiStepLR` with
    ``factor < 1``)::

        B(e) = min(round(initial / factor ** k(e)), maximum)      k(e) = decays of the baseline by epoch e

    i.e. ``B(e) = min(B0 * lr_BL(0) / lr_BL(e), B_max)``. The LR that goes with it is
    ``lr_BL(e) * B(e) / B0`` (:class:`hessianlab.training.scaling.NoiseScaledLR`), so ``lr / B`` equals the
    baseline's ``lr_BL(e) / B0`` at every epoch: while ``B(e) < B_max`` the LR stays at ``lr_BL(0)`` (up to
    the rounding of ``B``), and once ``B_max`` is reached the LR decays by what the batch could not absorb.
    """

    decay: StepLR | MultiStepLR
    initial: int
    maximum: int

    def batch_size(self, state: ScheduleState) -> int:
        return min(round(self.initial / self.decay.factor ** self.decay.decays_at(state.epoch)), self.maximum)


def _positive(field: str, text: str, kind: type = float) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"{field}: {text!r} is not a valid {kind.__name__}") from None
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{field}: must be positive, got {text}")
    return value


LR_SPECS = ("constant", "step:EVERY:FACTOR", "multistep:E1,E2,...:FACTOR", "ratio:R")
BATCH_SPECS = ("constant", "smith:BMAX", "abs")


def _milestones(text: str) -> tuple[int, ...]:
    epochs = tuple(_positive("lr_schedule multistep epoch", part, int) for part in text.split(","))
    if any(b <= a for a, b in pairwise(epochs)):
        raise ConfigError(f"lr_schedule multistep: epochs must be strictly increasing, got {text}")
    return epochs


def parse_lr_schedule(spec: str, base_lr: float) -> LRSchedule:
    """Build an LR schedule from its spec string (see module docstring)."""
    parts = spec.split(":")
    if parts == ["constant"]:
        return ConstantLR(base_lr)
    if parts[0] == "step" and len(parts) == 3:
        every = _positive("lr_schedule step EVERY", parts[1], int)
        return StepLR(base_lr, every, _positive("lr_schedule step FACTOR", parts[2]))
    if parts[0] == "multistep" and len(parts) == 3:
        return MultiStepLR(base_lr, _milestones(parts[1]), _positive("lr_schedule multistep FACTOR", parts[2]))
    if parts[0] == "ratio" and len(parts) == 2:
        return RatioLR(_positive("lr_schedule ratio R", parts[1]))
    raise ConfigError(f"lr_schedule: unknown spec {spec!r}; allowed: {', '.join(LR_SPECS)}")


def parse_batch_schedule(spec: str, batch_size: int, decay: LRSchedule | None = None) -> BatchSchedule:
    """Build a ``constant`` or ``smith:BMAX`` batch schedule; ``decay`` is the run's LR schedule (for smith).

    ``abs`` is refused here: it needs the ``abs_*`` config fields and the training-set size, see
    :func:`hessianlab.training.factory.schedules_from_config`.
    """
    parts = spec.split(":")
    if parts == ["constant"]:
        return ConstantBatch(batch_size)
    if parts[0] == "smith" and len(parts) == 2:
        maximum = _positive("batch_schedule smith BMAX", parts[1], int)
        if not isinstance(decay, (StepLR, MultiStepLR)) or not decay.factor < 1:
            raise ConfigError("batch_schedule smith: needs lr_schedule step:EVERY:FACTOR or multistep:E1,...:FACTOR "
                              "with FACTOR < 1 (the decay it replaces by batch growth)")
        if maximum < batch_size:
            raise ConfigError(f"batch_schedule smith: BMAX {maximum} is below the initial batch_size {batch_size}")
        return SmithBatch(decay, batch_size, maximum)
    if parts == ["abs"]:
        raise ConfigError("batch_schedule abs: build it with training.factory.schedules_from_config(config, num_train)")
    raise ConfigError(f"batch_schedule: unknown spec {spec!r}; allowed: {', '.join(BATCH_SPECS)}")
