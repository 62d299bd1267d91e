"""Build the pieces of a run (model, schedules, data) from a :class:`TrainConfig`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hessianlab.training.config import TrainConfig
from hessianlab.training.schedules import BatchSchedule, LRSchedule, parse_batch_schedule, parse_lr_schedule


def meta_to_dict(meta: Any) -> dict[str, Any]:
    """JSON-ready copy of a :class:`hessianlab.data.DatasetMeta` (stored in ``config.json``)."""
    return {
        "name": meta.name,
        "classes": list(meta.classes),
        "shape": list(meta.shape),
        "mean": list(meta.mean),
        "std": list(meta.std),
        "source": meta.source,
    }


def model_from_config(config: TrainConfig, data_meta: dict[str, Any], *, seed: int | None = None) -> nn.Module:
    """The model of ``config`` for data described by ``data_meta`` (see :func:`meta_to_dict`).

    With ``seed`` given, the global torch RNG is seeded first so the initialisation is reproducible.
    """
    from hessianlab.models import build_model

    if seed is not None:
        torch.manual_seed(seed)
    return build_model(
        config.model,
        in_shape=tuple(data_meta["shape"]),
        num_classes=len(data_meta["classes"]),
        activation=config.activation,
        width=config.width,
        batchnorm=config.batchnorm,
        mean=tuple(data_meta["mean"]),
        std=tuple(data_meta["std"]),
    )


def schedules_from_config(config: TrainConfig) -> tuple[LRSchedule, BatchSchedule]:
    """The LR and batch-size schedules named by ``config``."""
    return parse_lr_schedule(config.lr_schedule, config.lr), parse_batch_schedule(config.batch_schedule, config.batch_size)


def load_splits(config: TrainConfig) -> tuple[Any, Any]:
    """The training and test :class:`~hessianlab.data.Dataset` of ``config`` (stratified, seeded subsets)."""
    from hessianlab.data import load_dataset

    train_data = load_dataset(config.dataset, "train", subset=config.subset, seed=config.seed)
    test_data = load_dataset(config.dataset, "test", subset=config.test_subset, seed=config.seed)
    return train_data, test_data
