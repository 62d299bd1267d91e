"""Readable results: one class decorator gives every result dataclass a short ``repr``, a ``to_dict()``
and, where pandas is installed, a ``to_frame()``.

Applied with ``@friendly_result`` above ``@dataclass``. What it adds:

* ``repr``: the class name and each field on one line; tensors longer than :data:`SHOWN` values are
  summarised by shape, dtype and their first values, floats get 4 significant digits, long dicts are
  shortened to their key count. ``EigenResult(eigenvalues=[12.31, 4.502, 1.07], converged=True, ...)``
  instead of pages of eigenvector entries.
* ``to_dict()``: kept when the class defines one (its JSON layout is what run folders store); otherwise every
  field, tensors as nested lists.
* ``to_frame()``: a :class:`pandas.DataFrame` whose rows are the result's items: the columns are its 1-D
  fields of the most common length (eigenpairs of an :class:`~hessianlab.curvature.EigenResult`, grid points
  of a density, radii of a robust-accuracy result, ...) and every scalar field is in ``frame.attrs``. A class
  may pass ``frame=`` (a function of the result returning ``{column: values}``) when its items are not 1-D
  fields; a result without 1-D fields is one row of its scalars. Raises :class:`~hessianlab.errors.ConfigError` naming the fix when pandas is missing.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

from hessianlab.errors import ConfigError

__all__ = ["SHOWN", "friendly_result", "jsonable", "short"]

SHOWN = 6  # values shown of a 1-D field before it is summarised
T = TypeVar("T")
Columns = Callable[[Any], Mapping[str, Any]]


def _number(x: float) -> str:
    return repr(x) if isinstance(x, int) or not math.isfinite(x) else f"{x:.4g}"


def short(value: Any) -> str:
    """A one-line rendering of a field value: numbers with 4 significant digits, long tensors summarised."""
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            return _number(value.item())
        if value.ndim == 1 and value.numel() <= SHOWN:
            return "[" + ", ".join(_number(v) for v in value.tolist()) + "]"
        head = ", ".join(_number(v) for v in value.reshape(-1)[:3].tolist())
        return f"tensor(shape={tuple(value.shape)}, {str(value.dtype).removeprefix('torch.')}, [{head}, ...])"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, (tuple, list)):
        if len(value) <= SHOWN:
            inner = ", ".join(short(v) for v in value)
            return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
        return f"<{len(value)} items: {short(value[0])}, ...>"
    if isinstance(value, Mapping):
        if len(value) <= 3:
            return "{" + ", ".join(f"{k!r}: {short(v)}" for k, v in value.items()) + "}"
        return f"{{...{len(value)} keys}}"
    return repr(value)


def jsonable(value: Any) -> Any:
    """``value`` with tensors turned into (nested) lists and non-finite floats into ``None``."""
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if hasattr(value, "to_dict") else jsonable(dataclasses.asdict(value))
    return value


def _repr(self: Any) -> str:
    parts = [f"{f.name}={short(getattr(self, f.name))}" for f in dataclasses.fields(self) if f.repr]
    return f"{type(self).__name__}(" + ", ".join(parts) + ")"


def _fields_dict(self: Any) -> dict[str, Any]:
    """Every field, JSON-serialisable (tensors as lists)."""
    return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _length(value: Any) -> int | None:
    if isinstance(value, torch.Tensor):
        return int(value.shape[0]) if value.ndim == 1 else None
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, (int, float)) for v in value):
        return len(value)
    return None


def default_columns(result: Any) -> dict[str, Any]:
    """The 1-D fields of ``result`` of the most common length (ties: the longer), as columns."""
    lengths = {f.name: _length(getattr(result, f.name)) for f in dataclasses.fields(result)}
    counts = Counter(n for n in lengths.values() if n is not None)
    if not counts:
        return {}
    rows = max(counts, key=lambda n: (counts[n], n))
    return {name: _values(getattr(result, name)) for name, n in lengths.items() if n == rows}


def _values(value: Any) -> list[Any]:
    return value.detach().cpu().tolist() if isinstance(value, torch.Tensor) else list(value)


def _scalars(result: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, torch.Tensor) and value.ndim == 0:
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            out[f.name] = value
    return out


def _make_to_frame(columns: Columns) -> Callable[[Any], Any]:
    def to_frame(self: Any) -> Any:
        """The result's items as a :class:`pandas.DataFrame` (scalar fields in ``.attrs``); needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError("to_frame() needs pandas; install it with `pip install pandas` "
                              "(or use to_dict())") from None
        scalars = _scalars(self)
        frame = pd.DataFrame(dict(columns(self)) or {k: [v] for k, v in scalars.items()})
        frame.attrs.update(scalars)
        return frame

    return to_frame


def friendly_result(cls: type[T] | None = None, *, frame: Columns | None = None) -> Any:
    """Class decorator for result dataclasses (see the module docstring); use above ``@dataclass``."""

    def apply(klass: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(klass):
            raise TypeError(f"friendly_result expects a dataclass, got {klass.__name__}")
        klass.__repr__ = _repr  # type: ignore[method-assign]
        if not hasattr(klass, "to_dict"):
            klass.to_dict = _fields_dict  # type: ignore[attr-defined]
        klass.to_frame = _make_to_frame(frame or default_columns)  # type: ignore[attr-defined]
        return klass

    return apply if cls is None else apply(cls)
