"""Parameter checkers for experiment specs: each takes a value and returns it normalised, or raises.

A checker raises :class:`ValueError` whose message states the allowed values (``"expected a positive
integer, got -1"``); :mod:`hessianlab.experiments.spec` prefixes the field path (``analyses[2].eps``) and
turns it into one :class:`~hessianlab.errors.ConfigError`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

Checker = Callable[[Any], Any]


@dataclass(frozen=True)
class Param:
    """One analysis parameter: its default and its checker (``required`` when there is no default)."""

    default: Any
    check: Checker
    required: bool = False


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any) -> int:
    if not is_int(value) or value < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return value


def non_negative_int(value: Any) -> int:
    if not is_int(value) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def odd_int(value: Any) -> int:
    if not is_int(value) or value < 1 or value % 2 == 0:
        raise ValueError(f"expected a positive odd integer (the grid must contain the centre), got {value!r}")
    return value


def samples(value: Any) -> int | str:
    if value == "all" or (is_int(value) and value >= 1):
        return value
    raise ValueError(f"expected 'all' or a positive integer, got {value!r}")


def number(low: float | None = None, *, open_low: bool = False) -> Checker:
    """A finite number ``>= low`` (``> low`` with ``open_low``); ints are accepted and kept."""

    def check(value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and low is not None:
            ok = value > low if open_low else value >= low
        if not ok:
            bound = "" if low is None else f" {'>' if open_low else '>='} {low}"
            raise ValueError(f"expected a finite number{bound}, got {value!r}")
        return value

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def choice(*allowed: Any) -> Checker:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(map(str, allowed))}, got {value!r}")
        return value

    return check


def optional(inner: Checker) -> Checker:
    """``None`` or what ``inner`` accepts."""
    return lambda value: None if value is None else inner(value)


def list_of(inner: Checker, *, unique: bool = True) -> Checker:
    """A non-empty list (a scalar is promoted to a one-element list) of values ``inner`` accepts."""

    def check(value: Any) -> list[Any]:
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError("expected a non-empty list")
        out = []
        for i, item in enumerate(values):
            try:
                out.append(inner(item))
            except ValueError as exc:
                raise ValueError(f"[{i}]: {exc}") from None
        if unique and len(set(map(repr, out))) != len(out):
            raise ValueError(f"expected distinct values, got {values!r}")
        return out

    return check


def regex(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a regular expression string, got {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from None
    return value


def selector(value: Any) -> dict[str, Any]:
    """A mapping ``{sweep axis: value}`` naming another run of the sweep (checked against the axes later)."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f"expected a mapping of sweep axes to values, e.g. {{batch_size: 64}}, got {value!r}")
    return dict(value)
