"""Build the pieces of a run (model, schedules, data) from a :class:`TrainConfig`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hessianlab.attacks.mixing import AdvRatioSchedule
from hessianlab.training.abs_schedule import AdaptiveBatchSchedule, EigenProbe
from hessianlab.training.adaptive_batch import AdaptiveBatchSize
from hessianlab.training.config import TrainConfig
from hessianlab.training.scaling import NoiseScaledLR, WarmupScaledLR, warmup_updates
from hessianlab.training.schedules import (
    BatchSchedule,
    LRSchedule,
    parse_batch_schedule,
    parse_lr_schedule,
)


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


def schedules_from_config(config: TrainConfig, num_train: int) -> tuple[LRSchedule, BatchSchedule]:
    """The LR and batch-size schedules of ``config`` for a training set of ``num_train`` samples.

    The LR is composed as ``lr_schedule`` (the baseline BL), times Goyal et al.'s linear scaling with
    warm-up when ``lr_scale_ref`` is set (FB), times ``B / batch_size`` when the batch size is scheduled
    (GG ``smith:BMAX`` and ABS ``abs``: keep the baseline's noise scale ``lr / B``).
    """
    baseline = parse_lr_schedule(config.lr_schedule, config.lr)
    lr: LRSchedule = baseline
    if config.lr_scale_ref is not None:
        warmup = warmup_updates(config.lr_warmup_epochs, num_train, config.batch_size)
        lr = WarmupScaledLR(baseline, config.batch_size / config.lr_scale_ref, warmup)
    if config.batch_schedule == "abs":
        batch: BatchSchedule = _adaptive_schedule(config, num_train)
    else:
        batch = parse_batch_schedule(config.batch_schedule, config.batch_size, baseline)
    if config.batch_schedule != "constant":
        lr = NoiseScaledLR(lr, batch, config.batch_size)
    return lr, batch


def adv_ratio_schedule(config: TrainConfig) -> AdvRatioSchedule | None:
    """γ over training for adversarial runs (``adv_ratio``, ``adv_omega``, ``adv_tau``); ``None`` without."""
    if config.adversarial is None:
        return None
    return AdvRatioSchedule(config.adv_ratio, omega=config.adv_omega, tau=config.adv_tau)


def _adaptive_schedule(config: TrainConfig, num_train: int) -> AdaptiveBatchSchedule:
    batch_max = config.abs_batch_max if config.abs_batch_max is not None else max(num_train, config.batch_size)
    probe = EigenProbe(samples=config.abs_eig_samples,
                       seed=config.seed if config.abs_eig_seed is None else config.abs_eig_seed,
                       tol=config.abs_eig_tol, params=config.abs_eig_params, method=config.abs_eig_method,
                       chunk_size=config.abs_eig_chunk)
    controller = AdaptiveBatchSize(config.batch_size, batch_max=batch_max, every=config.abs_every or num_train,
                                   probe=probe, alpha=config.abs_alpha, beta=config.abs_beta, kappa=config.abs_kappa,
                                   gamma=adv_ratio_schedule(config), warm_start=config.abs_eig_warm)
    return AdaptiveBatchSchedule(controller)


def load_splits(config: TrainConfig) -> tuple[Any, Any]:
    """The training and test :class:`~hessianlab.data.Dataset` of ``config`` (stratified, seeded subsets)."""
    from hessianlab.data import load_dataset

    train_data = load_dataset(config.dataset, "train", subset=config.subset, seed=config.seed)
    test_data = load_dataset(config.dataset, "test", subset=config.test_subset, seed=config.seed)
    return train_data, test_data
