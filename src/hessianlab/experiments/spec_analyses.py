"""Validation of one ``analyses[i]`` entry of a spec against its kind's parameter schema and the sweep.

Beyond each parameter's checker (:mod:`hessianlab.experiments.params`): run selectors (``source``,
``target``, and ``init_from`` in the spec) must name sweep axes and values present on them, and so must an
analysis's ``where`` filter; ``landscape`` with ``type: interpolate`` needs a ``target``; every attack method
must accept the given parameters (``make_attack``).
"""

from __future__ import annotations

from typing import Any, Mapping

from hessianlab.errors import ConfigError
from hessianlab.experiments.analyses import ANALYSES


def check_analysis(kind: str, raw: Mapping[str, Any], where: str,
                   axes: Mapping[str, tuple[Any, ...]]) -> dict[str, Any]:
    """Validated parameters of an analysis of ``kind`` (defaults filled in); ``where`` is its path."""
    schema = ANALYSES[kind].params
    for key in raw:
        if key not in schema:
            raise ConfigError(f"{where}.{key}: unknown parameter of analysis kind {kind!r}; "
                              f"allowed: id, kind, {', '.join(schema)}")
    params: dict[str, Any] = {}
    for name, spec in schema.items():
        if name not in raw:
            if spec.required:
                raise ConfigError(f"{where}.{name}: required for analysis kind {kind!r}")
            params[name] = spec.default
            continue
        try:
            params[name] = spec.check(raw[name])
        except ValueError as exc:
            message = str(exc)
            sep = "" if message.startswith("[") else ": "
            raise ConfigError(f"{where}.{name}{sep}{message}") from None
    for name in ("source", "target"):
        if params.get(name) is not None:
            check_selector(params[name], f"{where}.{name}", axes)
    if kind == "landscape" and params["type"] == "interpolate" and params["target"] is None:
        raise ConfigError(f"{where}.target: required for type interpolate, e.g. {{batch_size: 64}} (a sweep axis)")
    if kind == "attack":
        _check_attacks(params, where)
    return params


def check_selector(selector: Mapping[str, Any], where: str, axes: Mapping[str, tuple[Any, ...]]) -> None:
    """Every key of ``selector`` is a sweep axis and its value one of the axis's values."""
    for axis, value in selector.items():
        if axis not in axes:
            allowed = ", ".join(axes) or "none (the spec has no sweep axes)"
            raise ConfigError(f"{where}.{axis}: not a sweep axis; allowed: {allowed}")
        if value not in axes[axis]:
            raise ConfigError(f"{where}.{axis}: {value!r} is not a value of the axis; "
                              f"allowed: {', '.join(map(str, axes[axis]))}")


def check_where(value: Any, where: str, axes: Mapping[str, tuple[Any, ...]]) -> dict[str, list[Any]]:
    """An analysis's run filter ``{axis: value or [values]}`` as ``{axis: [values]}`` (``{}`` for ``None``)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where}: expected a mapping of sweep axes to a value or a list of values, e.g. "
                          f"{{batch_size: [16, 2048]}}, got {value!r}")
    out = {}
    for axis, wanted in value.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if not options:
            raise ConfigError(f"{where}.{axis}: expected a value or a non-empty list of values")
        for option in options:
            check_selector({axis: option}, where, axes)
        out[axis] = list(options)
    return out


def matches(point: Mapping[str, Any], where: Mapping[str, list[Any]]) -> bool:
    """Whether the sweep ``point`` has, on every axis of ``where``, one of the listed values."""
    return all(any(point.get(axis) == v for v in options) for axis, options in where.items())


def _check_attacks(params: Mapping[str, Any], where: str) -> None:
    from hessianlab.attacks import make_attack

    for i, method in enumerate(params["methods"]):
        extra = {"steps": params["steps"]} if params["steps"] is not None and method in ("ifgsm", "pgd") else {}
        for eps in params["eps"]:
            try:
                make_attack(method, eps=eps, **extra)
            except ConfigError as exc:
                raise ConfigError(f"{where}.methods[{i}] ({method}, eps={eps}): {exc}") from None
