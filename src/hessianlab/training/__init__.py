"""Training: the SGD trainer, its configuration, and LR / batch-size schedules.

Public API::

    TrainConfig                       the resolved configuration of one run (validated, hashable)
    train(config, run, train_data, test_data, *, hooks=(), on_epoch=None, resume=True) -> TrainResult
    sgd_epoch(...)                    the update loop of one epoch (used by train and the benchmark)
    EpochHook, EpochContext           per-epoch measurement hooks
    evaluate(model, images, labels, batch_size) -> (loss, accuracy)
    ScheduleState, ConstantLR, StepLR, MultiStepLR, RatioLR, ConstantBatch, SmithBatch,
    parse_lr_schedule, parse_batch_schedule           baseline (BL) and GG schedules
    WarmupScaledLR, NoiseScaledLR, warmup_updates     FB linear scaling + warm-up; lr/B coupling of GG/ABS
    AdaptiveBatchRule, AdaptiveBatchSchedule, EigenProbe   ABS/ABSA (Yao et al. 2018, Alg. 1)
    AdaptiveBatchSize, AdaptiveBatchSampler   ABS/ABSA in any training loop (decisions + a DataLoader batch_sampler)
    accumulate_gradients(model, x, y, max_physical)   gradient accumulation over micro-batches
"""

from hessianlab.training.abs_schedule import AdaptiveBatchSchedule, EigenProbe
from hessianlab.training.accumulate import accumulate_gradients
from hessianlab.training.adaptive import AdaptiveBatchRule
from hessianlab.training.adaptive_batch import AdaptiveBatchSize
from hessianlab.training.batch_sampler import AdaptiveBatchSampler
from hessianlab.training.config import TrainConfig
from hessianlab.training.evaluate import evaluate
from hessianlab.training.scaling import NoiseScaledLR, WarmupScaledLR, warmup_updates
from hessianlab.training.schedules import (
    ConstantBatch,
    ConstantLR,
    MultiStepLR,
    RatioLR,
    ScheduleState,
    SmithBatch,
    StepLR,
    parse_batch_schedule,
    parse_lr_schedule,
)
from hessianlab.training.trainer import (
    EpochContext,
    EpochHook,
    TrainResult,
    sgd_epoch,
    train,
)

__all__ = [
    "AdaptiveBatchRule", "AdaptiveBatchSampler", "AdaptiveBatchSchedule", "AdaptiveBatchSize", "ConstantBatch", "ConstantLR", "EigenProbe", "EpochContext",
    "EpochHook", "MultiStepLR", "NoiseScaledLR", "RatioLR", "ScheduleState", "SmithBatch", "StepLR", "TrainConfig",
    "TrainResult", "WarmupScaledLR", "accumulate_gradients", "evaluate", "parse_batch_schedule", "parse_lr_schedule",
    "sgd_epoch", "train", "warmup_updates",
]
