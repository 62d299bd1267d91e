"""Large-batch LR rules that wrap a baseline LR schedule: linear scaling with warm-up, noise-scale coupling.

* **FB** (Goyal et al. 2017, "Accurate, large minibatch SGD"): :class:`WarmupScaledLR` multiplies the
  baseline LR by ``k = B / B_ref`` (linear scaling rule) after a gradual warm-up that ramps the multiplier
  linearly, once per update, from 1 to ``k`` (:func:`warmup_updates` gives its length).
* **GG / ABS** (Smith et al. 2017; Yao et al. 2018, ABSA Sec. 3): :class:`NoiseScaledLR` multiplies an LR
  by ``B / B0`` where ``B`` is the batch size a batch schedule currently prescribes, which keeps the SGD
  noise scale ``g ≈ η |Z| / |B|`` (Smith & Le 2018) of the baseline run at batch size ``B0``.

Both are queried like every schedule (``lr(state)``) and are stateless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hessianlab.training.schedules import (
    BatchSchedule,
    LRSchedule,
    ScheduleState,
    _Stateless,
)


def warmup_updates(warmup_epochs: float, num_train: int, batch_size: int) -> int:
    """Length of the warm-up in updates: ``W = ceil(warmup_epochs * ceil(num_train / batch_size))``.

    ``ceil(num_train / batch_size)`` is the number of updates of one epoch at the initial batch size (the
    last, shorter batch counts as an update), so ``warmup_epochs = 5`` is Goyal et al.'s "5 epochs".
    """
    return math.ceil(warmup_epochs * math.ceil(num_train / batch_size))


@dataclass(frozen=True)
class WarmupScaledLR(_Stateless):
    """Linear scaling rule with gradual warm-up, on top of a baseline schedule.

    For update ``t`` (0-based, ``state.update``) and warm-up length ``W`` (updates)::

        lr(t) = m(t) * baseline.lr(state)
        m(t)  = 1 + (scale - 1) * t / (W - 1)     for t < W, when W >= 2   (m(0) = 1, m(W - 1) = scale)
              = scale                             otherwise (t >= W, or W <= 1)

    so the warm-up starts at the baseline LR, reaches ``scale`` times it exactly at its last update, and
    from then on the baseline's decays apply to the scaled LR.
    """

    baseline: LRSchedule
    scale: float
    warmup: int

    def lr(self, state: ScheduleState) -> float:
        if state.update < self.warmup and self.warmup >= 2:
            multiplier = 1.0 + (self.scale - 1.0) * state.update / (self.warmup - 1)
        else:
            multiplier = self.scale
        return multiplier * self.baseline.lr(state)


@dataclass(frozen=True)
class NoiseScaledLR(_Stateless):
    """``lr(state) = inner.lr(state) * batch.batch_size(state) / reference``: keep ``lr / B`` of the baseline.

    ``batch`` is the run's batch schedule (``SmithBatch`` or the adaptive ABS schedule), queried for the
    batch size it prescribes now (the *logical* size: the shorter last batch of an epoch does not lower the
    LR); ``reference`` is the initial batch size ``B0`` the baseline ``inner`` was tuned for.
    """

    inner: LRSchedule
    batch: BatchSchedule
    reference: int

    def lr(self, state: ScheduleState) -> float:
        return self.inner.lr(state) * self.batch.batch_size(state) / self.reference
