"""Validation of a spec's ``base`` and ``sweep`` (plain axes and ``zip`` groups, ``init_from`` selectors).

Every grid row is checked as a :class:`~hessianlab.training.TrainConfig` (with ``init_from`` left out: a
selector is resolved by :func:`hessianlab.experiments.grid.expand`); errors are one :class:`ConfigError`
naming the field path (``sweep.zip[0][3].adv_eps``).
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any

from hessianlab.errors import ConfigError
from hessianlab.experiments.spec_analyses import check_selector
from hessianlab.training.config import TrainConfig

CONFIG_FIELDS = tuple(f.name for f in fields(TrainConfig))
_FIELD_MSG = re.compile(r"^([a-z_0-9]+): ")
Axes = tuple[tuple[str, tuple[Any, ...]], ...]


def parse_base(base: Any) -> dict[str, Any]:
    """The ``base`` mapping, checked as a config."""
    mapping(base, "base", CONFIG_FIELDS)
    _init_from_value(base.get("init_from"), "base.init_from")
    try:
        TrainConfig.from_dict({**base, "init_from": None})
    except ConfigError as exc:
        raise ConfigError(_prefixed("base", str(exc))) from None
    return dict(base)


def parse_sweep(sweep: Any, base: dict[str, Any]) -> tuple[Axes, tuple[tuple[str, ...], ...]]:
    """``(axes, zip groups)``: every axis with its values (a zip group's axes where ``zip`` stands) and the
    axis names of each zip group."""
    mapping(sweep, "sweep", (*CONFIG_FIELDS, "zip"))
    axes: list[tuple[str, tuple[Any, ...]]] = []
    groups: list[tuple[str, ...]] = []
    for axis, values in sweep.items():
        if axis == "zip":
            for g, group in enumerate(_zip_groups(values)):
                axes.extend(_zip_group(group, f"sweep.zip[{g}]", base))
                groups.append(tuple(group))
            continue
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{axis}: expected a non-empty list of values, got {values!r}")
        for i, value in enumerate(values):
            _axis_value(axis, value, f"sweep.{axis}[{i}]")
            _row_config(base, {axis: value}, f"sweep.{axis}[{i}]", axis)
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"sweep.{axis}: values must be distinct, got {values!r}")
        axes.append((axis, tuple(values)))
    names = [a for a, _ in axes]
    for axis in names:
        if names.count(axis) > 1:
            raise ConfigError(f"sweep.{axis}: the field is both a sweep axis and in a zip group (or in two groups); "
                              "keep it in one place")
    return tuple(axes), tuple(groups)


def _zip_groups(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"sweep.zip: expected a list of groups {{field: [values]}}, got {value!r}")
    return [mapping(group, f"sweep.zip[{g}]", CONFIG_FIELDS) for g, group in enumerate(value)]


def _zip_group(group: dict[str, Any], where: str, base: dict[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """The columns of one zip group, each row validated as one config."""
    if not group:
        raise ConfigError(f"{where}: expected at least one field with a list of values")
    lengths = set()
    for axis, values in group.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}.{axis}: expected a non-empty list of values, got {values!r}")
        for i, value in enumerate(values):
            _axis_value(axis, value, f"{where}.{axis}[{i}]")
        lengths.add(len(values))
    if len(lengths) != 1:
        sizes = ", ".join(f"{a}: {len(v)}" for a, v in group.items())
        raise ConfigError(f"{where}: the lists of a zip group must have one length, got {sizes}")
    rows = [dict(zip(group, row)) for row in zip(*group.values())]
    for i, row in enumerate(rows):
        _row_config(base, row, f"{where}[{i}]", None)
    if len(set(map(repr, rows))) != len(rows):
        raise ConfigError(f"{where}: rows must be distinct, got {rows!r}")
    return [(axis, tuple(values)) for axis, values in group.items()]


def _axis_value(axis: str, value: Any, where: str) -> None:
    if axis == "init_from":
        _init_from_value(value, where)
    elif isinstance(value, (dict, list)):
        raise ConfigError(f"{where}: expected a scalar value, got {value!r}")


def _row_config(base: dict[str, Any], row: dict[str, Any], where: str, axis: str | None) -> None:
    try:
        TrainConfig.from_dict({**base, **row, "init_from": None})
    except ConfigError as exc:
        raise ConfigError(_prefixed(where, str(exc), axis)) from None


def _init_from_value(value: Any, where: str) -> None:
    if value is not None and (not isinstance(value, dict) or not value):
        raise ConfigError(f"{where}: expected null or a run selector {{sweep axis: value}}, e.g. "
                          f"{{adversarial: null}}, got {value!r} (paths are not allowed)")


def check_init_from(base: dict[str, Any], sweep: Axes) -> None:
    """Every ``init_from`` selector names sweep axes and values they have."""
    axes = dict(sweep)
    if base.get("init_from") is not None:
        check_selector(base["init_from"], "base.init_from", axes)
    for i, value in enumerate(axes.get("init_from", ())):
        if value is not None:
            check_selector(value, f"sweep.init_from[{i}]", axes)


def mapping(value: Any, where: str, allowed: tuple[str, ...] | None) -> dict[str, Any]:
    """``value`` when it is a mapping with string keys (all in ``allowed`` unless that is ``None``)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(f"{where}: keys must be strings, got {key!r}")
        if allowed is not None and key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown field; allowed: {', '.join(allowed)}")
    return value


def _prefixed(where: str, message: str, axis: str | None = None) -> str:
    """``lr: must be > 0`` -> ``base.lr: must be > 0`` (or ``sweep.lr[1]: must be > 0`` for ``axis='lr'``)."""
    match = _FIELD_MSG.match(message)
    if match and match.group(1) in CONFIG_FIELDS:
        rest = message[match.end():]
        if axis is None:
            return f"{where}.{match.group(1)}: {rest}"
        if match.group(1) == axis:
            return f"{where}: {rest}"
    return f"{where}: {message}"
