"""The resolved training configuration and its validation.

A :class:`TrainConfig` is everything that defines a training run; two runs with equal configs (and the
same machine) produce bitwise-identical weights. ``config_hash`` identifies it in the run catalog.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from hessianlab.errors import ConfigError
from hessianlab.training.schedules import (
    RatioLR,
    parse_batch_schedule,
    parse_lr_schedule,
)


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
    Hessian and the full-batch gradient norm after every epoch (see :mod:`hessianlab.training.hooks`);
    ``track_lambda1_params`` (a parameter-name regex) adds the same for that block of the Hessian, recorded as
    ``lambda1_block`` and ``grad_norm_block`` (ABSA Fig. 6: the last layers' block against the full Hessian);
    ``track_lambda1_warm`` starts each epoch's solve from the previous epoch's Ritz vector (same tolerance,
    fewer products; the vector is checkpointed, so resume stays exact).

    Large batches (ABSA paper, Appendix B strategies; see :mod:`hessianlab.training.scaling`):
    FB: ``lr_scale_ref`` = B_ref turns on the linear scaling rule ``lr x batch_size / B_ref`` with a warm-up
    of ``lr_warmup_epochs`` epochs (at the initial batch size); GG: ``batch_schedule="smith:BMAX"``;
    ABS/ABSA: ``batch_schedule="abs"`` with Algorithm 1's inputs ``abs_alpha`` (α), ``abs_beta`` (β),
    ``abs_kappa`` (κ), ``abs_every`` (n, in samples; ``None`` = one epoch), ``abs_batch_min`` /
    ``abs_batch_max`` (``None`` = no lower bound / the training-set size), and the eigenvalue measurement
    ``abs_eig_samples`` (``"all"`` or a count), ``abs_eig_tol``, ``abs_eig_seed`` (``None`` = ``seed``),
    ``abs_eig_params`` (parameter-name regex of a block Hessian), ``abs_eig_method`` (``lanczos``: the
    largest algebraic eigenvalue, the default; ``power``: the largest in magnitude, as the paper's power
    iteration — near initialisation that one can be negative, and a negative reference stops Alg. 1's
    decrease test from ever firing), ``abs_eig_warm`` (start each check's solve from the previous check's
    Ritz vector: same stopping rule, fewer products when the top eigenvector moves little between checks),
    ``abs_eig_chunk`` (samples per product chunk: bounds the probe's memory; a probe whose samples fit in one
    chunk keeps its gradient graph between products, about 2x a gradient pass per product instead of ~3x).
    ABSA is ABS with ``adversarial`` (the paper: fgsm, ``adv_eps`` 0.005, ``adv_ratio`` γ = 0.2, given
    explicitly), whose γ is divided by ``adv_omega`` at every eigenvalue decrease and is 0 from update
    ``adv_tau`` on (``adv_tau`` works for any adversarial run). ``max_physical_batch`` splits larger batches
    into micro-batches with gradient accumulation (exact without BatchNorm; see the trainer).
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
    track_lambda1_params: str | None = None
    track_lambda1_warm: bool = False
    lr_scale_ref: int | None = None
    lr_warmup_epochs: float = 0.0
    max_physical_batch: int | None = None
    adv_omega: float = 2.0
    adv_tau: int | None = None
    abs_alpha: float = 2.0
    abs_beta: float = 2.0
    abs_kappa: int = 10
    abs_every: int | None = None
    abs_batch_min: int | None = None
    abs_batch_max: int | None = None
    abs_eig_samples: int | str = 2048
    abs_eig_tol: float = 1e-3
    abs_eig_seed: int | None = None
    abs_eig_params: str | None = None
    abs_eig_method: str = "lanczos"
    abs_eig_warm: bool = False
    abs_eig_chunk: int = 1024

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
            _check_number("adv_omega", self.adv_omega, low=1.0)
            if self.adv_tau is not None and (not isinstance(self.adv_tau, int) or isinstance(self.adv_tau, bool)
                                             or self.adv_tau < 0):
                raise ConfigError(f"adv_tau: must be a non-negative integer (SGD updates) or None, "
                                  f"got {self.adv_tau!r}")
        if self.track_lambda1 is not None and self.track_lambda1 != "all":
            _check_positive_int("track_lambda1", self.track_lambda1)
        _check_regex("track_lambda1_params", self.track_lambda1_params)
        if self.max_physical_batch is not None:
            _check_positive_int("max_physical_batch", self.max_physical_batch)
        self._check_large_batch()
        self._check_only_with("adversarial", self.adversarial is not None, ("adv_omega", "adv_tau"))
        _check_bool("track_lambda1_warm", self.track_lambda1_warm)
        self._check_only_with("track_lambda1", self.track_lambda1 is not None,
                              ("track_lambda1_params", "track_lambda1_warm"))
        self._check_only_with("batch_schedule abs", self.batch_schedule == "abs",
                              tuple(f.name for f in fields(self) if f.name.startswith("abs_")) + ("adv_omega",))

    def _check_large_batch(self) -> None:
        """Schedules (FB, GG, ABS) and their combinations."""
        lr_schedule = parse_lr_schedule(self.lr_schedule, self.lr)
        if self.lr_scale_ref is not None:
            _check_positive_int("lr_scale_ref", self.lr_scale_ref)
        _check_number("lr_warmup_epochs", self.lr_warmup_epochs, low=0.0)
        if self.lr_warmup_epochs > 0 and self.lr_scale_ref is None:
            raise ConfigError("lr_warmup_epochs: the warm-up ramps to the linearly scaled LR; set lr_scale_ref too")
        scaled = self.lr_scale_ref is not None or self.batch_schedule != "constant"
        if isinstance(lr_schedule, RatioLR) and scaled:
            raise ConfigError("lr_schedule ratio already ties the LR to the batch size; use step, multistep or "
                              "constant with lr_scale_ref or batch_schedule smith/abs")
        if self.batch_schedule != "abs":
            parse_batch_schedule(self.batch_schedule, self.batch_size, lr_schedule)
            return
        for name in ("abs_alpha", "abs_beta"):
            _check_number(name, getattr(self, name), low=1.0, low_open=True)
        _check_positive_int("abs_kappa", self.abs_kappa)
        for name in ("abs_every", "abs_batch_min", "abs_batch_max"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        if self.abs_batch_min is not None and self.batch_size < self.abs_batch_min:
            raise ConfigError(f"abs_batch_min: the initial batch_size {self.batch_size} is below it "
                              f"({self.abs_batch_min}); Alg. 1 never shrinks the batch")
        if self.abs_batch_max is not None and self.batch_size > self.abs_batch_max:
            raise ConfigError(f"abs_batch_max: {self.abs_batch_max} is below the initial batch_size {self.batch_size}")
        if self.abs_eig_samples != "all":
            _check_positive_int("abs_eig_samples", self.abs_eig_samples)
        _check_number("abs_eig_tol", self.abs_eig_tol, low=0.0, low_open=True)
        if self.abs_eig_seed is not None and (not isinstance(self.abs_eig_seed, int)
                                              or isinstance(self.abs_eig_seed, bool) or self.abs_eig_seed < 0):
            raise ConfigError(f"abs_eig_seed: must be a non-negative integer or None, got {self.abs_eig_seed!r}")
        _check_regex("abs_eig_params", self.abs_eig_params)
        _check_positive_int("abs_eig_chunk", self.abs_eig_chunk)
        _check_bool("abs_eig_warm", self.abs_eig_warm)
        if self.abs_eig_method not in ("power", "lanczos"):
            raise ConfigError(f"abs_eig_method: {self.abs_eig_method!r} is not allowed; use power or lanczos")

    def _check_only_with(self, condition: str, active: bool, names: tuple[str, ...]) -> None:
        """A field that only ``condition`` uses must keep its default otherwise (it would be silently ignored)."""
        if active:
            return
        for name in names:
            if getattr(self, name) != _DEFAULTS[name]:
                raise ConfigError(f"{name}: only used with {condition}; remove it or set {condition}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
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
        """SHA-256 (hex, 16 chars) of the canonical JSON of :meth:`to_dict`.

        Fields added after runs were first stored (:data:`_LATER_FIELDS`) are left out while they hold their
        default, so a config that does not use them keeps the hash (and run folder) it had before.
        """
        data = {k: v for k, v in self.to_dict().items() if not (k in _LATER_FIELDS and v == _DEFAULTS[k])}
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(TrainConfig)}
_LATER_FIELDS = frozenset(("lr_scale_ref", "lr_warmup_epochs", "max_physical_batch", "adv_omega", "adv_tau",
                           "track_lambda1_params", "track_lambda1_warm",
                           *(name for name in _DEFAULTS if name.startswith("abs_"))))


def _check_positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name}: must be a positive integer, got {value!r}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: must be true or false, got {value!r}")


def _check_regex(name: str, value: Any) -> None:
    """``None`` or a string that compiles as a regular expression."""
    if value is None:
        return
    try:
        re.compile(value)
    except (re.error, TypeError):
        raise ConfigError(f"{name}: {value!r} is not a valid regex") from None


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
