"""A generic truncation of any spec preset: ``--limit-samples N`` and ``--limit-epochs E``.

It runs a preset's whole pipeline (models, input shapes, class counts, schedules, analyses, reports, claims,
reference tables) at tiny size and changes nothing else. In every run's config, each count of samples is
capped at ``N``: ``subset`` and ``test_subset`` (``None``, the whole split, becomes ``N``),
``track_lambda1``, and with adaptive batches ``abs_eig_samples`` and ``abs_every``, when they are numbers;
``max_epochs`` is capped at ``E``. In every analysis, ``samples`` (a number or each number of a list) and
``eval_samples`` are capped at ``N``; ``all`` stays ``all`` (now the capped set). Batch sizes, learning rates, schedules, grids, selectors
and everything else are kept, so batches larger than ``N`` samples are full-batch steps. The sweep points
(and hence ``where`` and ``init_from`` selectors) are untouched; each capped config gets its own run name
(config hash), so limited runs never mix with full ones. The limits are recorded in ``spec.json``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hessianlab.errors import ConfigError
from hessianlab.experiments.grid import RunPlan, run_name
from hessianlab.training.config import TrainConfig

_SAMPLE_FIELDS = ("subset", "test_subset", "track_lambda1", "abs_eig_samples", "abs_every")
_ANALYSIS_FIELDS = ("samples", "eval_samples")


def check_limits(samples: int | None, epochs: int | None) -> dict[str, int]:
    """``{"samples": N, "epochs": E}`` without the unset ones; each must be a positive integer."""
    limits = {"samples": samples, "epochs": epochs}
    for name, value in limits.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"--limit-{name}: expected a positive integer, got {value!r}")
    return {k: v for k, v in limits.items() if v is not None}


def _cap(value: Any, limit: int) -> Any:
    if isinstance(value, list):
        return [_cap(v, limit) for v in value]
    return min(value, limit) if isinstance(value, int) and not isinstance(value, bool) else value


def limit_config(config: TrainConfig, limits: dict[str, int]) -> TrainConfig:
    """``config`` with its sample counts capped at ``limits["samples"]`` and ``max_epochs`` at ``limits["epochs"]``."""
    changes: dict[str, Any] = {}
    n = limits.get("samples")
    if n is not None:
        for name in _SAMPLE_FIELDS:
            if name.startswith("abs_") and config.batch_schedule != "abs":
                continue  # unused (and left at its default) without adaptive batches
            value = getattr(config, name)
            changes[name] = n if value is None and name in ("subset", "test_subset") else _cap(value, n)
    if "epochs" in limits:
        changes["max_epochs"] = min(config.max_epochs, limits["epochs"])
    return dataclasses.replace(config, **changes)


def limit_plans(plans: list[RunPlan], limits: dict[str, int]) -> list[RunPlan]:
    """Every plan with its config limited and renamed after the new config (sources renamed alike)."""
    if not limits:
        return plans
    configs = {p.name: limit_config(p.config, limits) for p in plans}
    names = {p.name: run_name(p.point, configs[p.name]) for p in plans}
    return [RunPlan(names[p.name], p.point, dataclasses.replace(configs[p.name], init_from=names.get(p.config.init_from)
                                                                if p.config.init_from is not None else None),
                    names[p.source] if p.source is not None else None) for p in plans]


def limit_analysis_params(params: dict[str, Any], limits: dict[str, int]) -> dict[str, Any]:
    """An analysis's parameters with ``samples`` and ``eval_samples`` capped at ``limits["samples"]``."""
    n = limits.get("samples")
    if n is None:
        return dict(params)
    return {k: _cap(v, n) if k in _ANALYSIS_FIELDS else v for k, v in params.items()}
