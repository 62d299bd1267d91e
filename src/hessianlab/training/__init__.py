"""Training: the SGD trainer, its configuration, and LR / batch-size schedules.

Public API::

    TrainConfig                       the resolved configuration of one run (validated, hashable)
    train(config, run, train_data, test_data, *, hooks=(), on_epoch=None, resume=True) -> TrainResult
    sgd_epoch(...)                    the update loop of one epoch (used by train and the benchmark)
    EpochHook, EpochContext           per-epoch measurement hooks
    evaluate(model, images, labels, batch_size) -> (loss, accuracy)
    ScheduleState, ConstantLR, StepLR, RatioLR, ConstantBatch, parse_lr_schedule, parse_batch_schedule
"""

from hessianlab.training.config import TrainConfig
from hessianlab.training.evaluate import evaluate
from hessianlab.training.schedules import (
    ConstantBatch, ConstantLR, RatioLR, ScheduleState, StepLR, parse_batch_schedule, parse_lr_schedule,
)
from hessianlab.training.trainer import EpochContext, EpochHook, TrainResult, sgd_epoch, train

__all__ = [
    "ConstantBatch", "ConstantLR", "EpochContext", "EpochHook", "RatioLR", "ScheduleState", "StepLR", "TrainConfig",
    "TrainResult", "evaluate", "parse_batch_schedule", "parse_lr_schedule", "sgd_epoch", "train",
]
