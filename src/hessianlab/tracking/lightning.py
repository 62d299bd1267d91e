"""A PyTorch Lightning ``Callback`` that drives a :class:`~hessianlab.tracking.Tracker` (optional extra
``pip install hessianlab[lightning]``). ::

    tracker = hessianlab.Tracker(module, (x_train, y_train), every=1, unit="epoch", path="curv.jsonl")
    trainer = lightning.Trainer(callbacks=[TrackerCallback(tracker)], ...)

The callback counts each training batch (:meth:`Tracker.step`, after the optimizer step) and each finished
training epoch (:meth:`Tracker.epoch_end`); the tracker measures at its own schedule. When the tracker needs
an optimizer (the ``eos`` measure) and has none, it takes the trainer's first one at the start of fitting.
Each record's numeric fields are also sent to the trainer's logger (``hessianlab/<field>`` at the global step).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from hessianlab.tracking.tracker import Tracker

__all__ = ["TrackerCallback"]


class TrackerCallback(pl.Callback):
    """Lightning adapter of a :class:`~hessianlab.tracking.Tracker` (see the module docstring)."""

    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self.tracker = tracker

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.tracker.optimizer is None and trainer.optimizers:
            self.tracker.optimizer = trainer.optimizers[0]

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._log(trainer, self.tracker.step())

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log(trainer, self.tracker.epoch_end())

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.tracker.close()

    @staticmethod
    def _log(trainer: pl.Trainer, record: dict[str, Any] | None) -> None:
        if record is None or trainer.logger is None:
            return
        scalars = {f"hessianlab/{k}": float(v) for k, v in record.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "epoch")}
        trainer.logger.log_metrics(scalars, step=trainer.global_step)
