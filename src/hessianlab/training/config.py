"""The resolved training configuration and its validation.

A :class:`TrainConfig` is everything that defines a training run; two runs with equal configs (and the
same machine) produce bitwise-identical weights. ``config_hash`` identifies it in the run catalog.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

from hessianlab.errors import ConfigError
from hessianlab.training.schedules import parse_batch_schedule, parse_lr_schedule


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Data: ``dataset`` (registry name), ``subset`` (stratified, seeded training subset size, ``None`` = all),
    ``test_subset`` likewise for the test split, ``augment`` (random crop + flip, training batches only).
    Model: ``model``, ``activation``, ``width``, ``batchnorm`` (``None`` = the architecture's default).
    Optimiser: SGD with ``lr``, ``momentum``, ``weight_decay``; ``lr_schedule`` and ``batch_schedule`` are spec
    strings (see :mod:`hessianlab.training.schedules`). Stopping: the full-training-set loss (eval mode)
    reaches ``target_loss``, or ``max_epochs`` / ``max_updates`` is hit. ``seed`` fixes initialisation,
    shuffling, augmentation and dropout.
    Adversarial training: ``adversarial`` names an attack (see :func:`hessianlab.attacks.make_attack`) of radius
    ``adv_eps`` (pixels) that replaces a fraction ``adv_ratio`` of every training batch, computed against the
    current model with BatchNorm in ``adv_bn_mode``. ``init_from`` is a run folder whose final weights start
    this run (Yao et al. train robustly from an already trained model).
    Curvature tracking: ``track_lambda1`` (``"all"`` or a number of training samples) records λ1 of the
    Hessian and the full-batch gradient norm after every epoch (see :mod:`hessianlab.training.hooks`).
    """

    model: str = "m1"
    dataset: str = "fashion-mnist"
    subset: int | None = None
    test_subset: int | None = None
    augment: bool = False
    activation: str = "relu"
    width: float = 1.0
    batchnorm: bool | None = None
    batch_size: int = 128
    batch_schedule: str = "constant"
    lr: float = 0.01
    lr_schedule: str = "constant"
    momentum: float = 0.0
    weight_decay: float = 0.0
    target_loss: float | None = 1e-3
    max_epochs: int = 100
    max_updates: int | None = None
    seed: int = 0
    eval_batch_size: int = 1024
    adversarial: str | None = None
    adv_eps: float = 0.1
    adv_ratio: float = 1.0
    adv_bn_mode: str = "eval"
    init_from: str | None = None
    track_lambda1: int | str | None = None

    def __post_init__(self) -> None:
        _check_positive_int("batch_size", self.batch_size)
        _check_positive_int("max_epochs", self.max_epochs)
        _check_positive_int("eval_batch_size", self.eval_batch_size)
        for name in ("subset", "test_subset", "max_updates"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed: must be a non-negative integer, got {self.seed!r}")
        _check_number("lr", self.lr, low=0.0, low_open=True)
        _check_number("momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        _check_number("weight_decay", self.weight_decay, low=0.0)
        _check_number("width", self.width, low=0.0, low_open=True)
        if self.target_loss is not None:
            _check_number("target_loss", self.target_loss, low=0.0, low_open=True)
        from hessianlab.models import MODEL_NAMES

        if self.model not in MODEL_NAMES:
            raise ConfigError(f"model: unknown {self.model!r}; choose one of: {', '.join(MODEL_NAMES)}")
        if self.activation not in ("relu", "softplus", "elu"):
            raise ConfigError(f"activation: {self.activation!r} is not allowed; use relu, softplus or elu")
        if self.adversarial is not None:
            from hessianlab.attacks import make_attack

            make_attack(self.adversarial, eps=self.adv_eps)
            _check_number("adv_ratio", self.adv_ratio, low=0.0, high=1.0)
            if self.adv_bn_mode not in ("eval", "train"):
                raise ConfigError(f"adv_bn_mode: {self.adv_bn_mode!r} is not allowed; use eval or train")
        if self.track_lambda1 is not None and self.track_lambda1 != "all":
            _check_positive_int("track_lambda1", self.track_lambda1)
        parse_lr_schedule(self.lr_schedule, self.lr)
        parse_batch_schedule(self.batch_schedule, self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Build from a mapping; an unknown key is a :class:`ConfigError` naming it and the allowed keys."""
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"unknown config field {unknown[0]!r}; allowed fields: {', '.join(sorted(allowed))}")
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigError(f"bad config: {exc}") from None

    def config_hash(self) -> str:
        """SHA-256 (hex, 16 chars) of the canonical JSON of :meth:`to_dict`."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _check_positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name}: must be a positive integer, got {value!r}")


def _check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{name}: must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = ">" if low_open else ">="
        raise ConfigError(f"{name}: must be {bound} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        bound = "<" if high_open else "<="
        raise ConfigError(f"{name}: must be {bound} {high}, got {value}")
