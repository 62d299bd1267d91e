"""ABS / ABSA as the trainer's batch-size schedule: a thin adapter over
:class:`~hessianlab.training.adaptive_batch.AdaptiveBatchSize`, the object any training loop can drive.

:class:`AdaptiveBatchSchedule` serves the controller's batch size to the trainer and, after every SGD update
(:meth:`AdaptiveBatchSchedule.after_update`), passes the trainer's counters to
:meth:`AdaptiveBatchSize.observe <hessianlab.training.adaptive_batch.AdaptiveBatchSize.observe>`, which checks
whether the update crossed a multiple of ``every`` visited samples and, if so, measures the top eigenvalue
(:class:`~hessianlab.training.eigen_probe.EigenProbe`), lets
:class:`~hessianlab.training.adaptive.AdaptiveBatchRule` decide, and appends a decision record. The records
and the rule's state are part of :meth:`state_dict`, so a resumed run continues with exactly the decisions
of an uninterrupted one; under ``torchrun`` the probe shards its products across the ranks (see
:mod:`hessianlab.training.eigen_probe`).

The LR that goes with it is ``lr_BL(epoch) * B / B_initial``
(:class:`~hessianlab.training.scaling.NoiseScaledLR`): growing the batch keeps the baseline's SGD noise
scale ``η / B`` (Smith & Le's argument in ABSA Sec. 3), as the paper's "change lr" asks. For ABSA the
adversarial ratio γ is ``AdvRatioSchedule.ratio(update, decreases)``: divided by ω at every eigenvalue
decrease event, 0 from update τ on.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from hessianlab.training.adaptive import AdaptiveBatchRule
from hessianlab.training.adaptive_batch import AdaptiveBatchSize
from hessianlab.training.eigen_probe import EigenMeasurement, EigenProbe, probe_operator
from hessianlab.training.schedules import ScheduleState

__all__ = ["AdaptiveBatchSchedule", "EigenMeasurement", "EigenProbe", "probe_operator"]


class AdaptiveBatchSchedule:
    """ABS / ABSA batch-size schedule for the trainer (see module docstring).

    Args:
        controller: the :class:`~hessianlab.training.adaptive_batch.AdaptiveBatchSize` whose decisions the
            schedule serves.
    """

    def __init__(self, controller: AdaptiveBatchSize) -> None:
        self.controller = controller

    @property
    def rule(self) -> AdaptiveBatchRule:
        """The decision state machine (holds the current batch size)."""
        return self.controller.rule

    @property
    def records(self) -> list[dict[str, Any]]:
        """The decision records so far (``decisions.jsonl``)."""
        return self.controller.records

    @property
    def eig_seconds(self) -> float:
        """Seconds spent in eigenvalue checks so far."""
        return self.controller.eig_seconds

    def batch_size(self, state: ScheduleState) -> int:
        """The current batch size (changes only at eigenvalue checks)."""
        return self.controller.batch_size

    def adv_ratio(self, update: int) -> float:
        """ABSA's γ before update ``update`` (0 for plain ABS)."""
        return self.controller.adv_fraction(update)

    def after_update(self, model: nn.Module, state: ScheduleState, lr: float, *, data: Any) -> dict[str, Any] | None:
        """Called after every SGD update; runs an eigenvalue check when one is due and returns its record.

        ``state`` holds the counters *after* the update, with ``batch_size`` the number of samples the update
        consumed; ``lr`` is the LR the update used; ``data`` is the training set. The record's fields are
        listed at :meth:`AdaptiveBatchSize.observe <hessianlab.training.adaptive_batch.AdaptiveBatchSize.observe>`.
        """
        return self.controller.observe(model, data, update=state.update, samples_seen=state.samples_seen,
                                       samples=state.batch_size, lr=lr, epoch=state.epoch)

    def state_dict(self) -> dict[str, Any]:
        return self.controller.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state)
