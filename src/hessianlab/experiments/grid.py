"""Sweep grids: the full product of the sweep axes, one :class:`RunPlan` per grid point with a stable name.

A run's name is its sweep point written ``axis=value`` joined by ``_`` (in axis order, sanitised to
``[A-Za-z0-9._=-]``) plus ``-`` and the first 8 hex digits of its config hash, e.g.
``batch_size=64_seed=0-3f2a9c1b``; a sweep without axes gives ``base-<hash>``. The name depends only on
the point and the resolved config, so it is the same on every invocation of the same spec.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from hessianlab.errors import ConfigError
from hessianlab.training.config import TrainConfig

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


@dataclass(frozen=True)
class RunPlan:
    """One grid point: ``name`` (its folder under ``DIR/runs``), the sweep ``point`` and the ``config``."""

    name: str
    point: Mapping[str, Any]
    config: TrainConfig


def run_name(point: Mapping[str, Any], config: TrainConfig) -> str:
    """``axis=value_axis=value-HASH8`` (see the module docstring)."""
    label = "_".join(f"{axis}={_text(value)}" for axis, value in point.items()) or "base"
    return f"{_UNSAFE.sub('-', label)[:120]}-{config.config_hash()[:8]}"


def expand(base: Mapping[str, Any], sweep: Sequence[tuple[str, Sequence[Any]]]) -> list[RunPlan]:
    """One plan per element of the product of the ``sweep`` axes (first axis slowest), over ``base``.

    Each config is validated by :meth:`TrainConfig.from_dict`; an invalid one is a :class:`ConfigError`
    naming the grid point.
    """
    axes = [axis for axis, _ in sweep]
    plans = []
    for values in itertools.product(*(vals for _, vals in sweep)):
        point = dict(zip(axes, values))
        try:
            config = TrainConfig.from_dict({**base, **point})
        except ConfigError as exc:
            where = ", ".join(f"{a}={_text(v)}" for a, v in point.items()) or "base"
            raise ConfigError(f"sweep point ({where}): {exc}") from None
        plans.append(RunPlan(run_name(point, config), point, config))
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise ConfigError("sweep: two grid points give the same config; remove the duplicate axis values")
    return plans


def _text(value: Any) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
