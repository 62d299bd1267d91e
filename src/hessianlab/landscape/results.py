"""Frozen results of landscape evaluations: :class:`Line` and :class:`Plane`, with JSON round trips.

Losses are mean cross-entropy (nats per sample) over all samples of the data, accuracies fractions in
``[0, 1]``; all arrays are float64 CPU tensors. In JSON, non-finite values (a diverged far point) are
written as ``null`` and read back as NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from hessianlab.errors import StoreError
from hessianlab.friendly import friendly_result


@friendly_result
@dataclass(frozen=True)
class Line:
    """Loss and accuracy along ``θ + α d``.

    Attributes:
        alphas: ``(T,)`` step coefficients.
        loss: ``(T,)`` mean loss at each step.
        accuracy: ``(T,)`` accuracy at each step.
        direction_kind: ``'eigen'``, ``'random'``, ``'interpolation'`` or ``'custom'``.
        settings: what defines the values (samples, batch size, BN policy, dtype, direction names).
    """

    alphas: torch.Tensor
    loss: torch.Tensor
    accuracy: torch.Tensor
    direction_kind: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``type='line'``)."""
        return {"type": "line", "alphas": _floats(self.alphas), "loss": _floats(self.loss),
                "accuracy": _floats(self.accuracy), "direction_kind": self.direction_kind,
                "settings": dict(self.settings)}


@friendly_result(frame=lambda plane: plane_columns(plane))
@dataclass(frozen=True)
class Plane:
    """Loss and accuracy on ``θ + α d1 + β d2``.

    Attributes:
        alphas: ``(A,)`` coefficients of ``d1``.
        betas: ``(B,)`` coefficients of ``d2``.
        loss: ``(A, B)``; ``loss[i, j]`` is at ``(alphas[i], betas[j])``.
        accuracy: ``(A, B)``, same layout.
        settings: as :attr:`Line.settings`, plus both direction kinds.
    """

    alphas: torch.Tensor
    betas: torch.Tensor
    loss: torch.Tensor
    accuracy: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``type='plane'``); 2-D arrays as lists of rows."""
        return {"type": "plane", "alphas": _floats(self.alphas), "betas": _floats(self.betas),
                "loss": [_floats(r) for r in self.loss], "accuracy": [_floats(r) for r in self.accuracy],
                "settings": dict(self.settings)}


def plane_columns(plane: Plane) -> dict[str, list[float]]:
    """A plane in long form, one row per grid point: ``alpha``, ``beta``, ``loss``, ``accuracy``."""
    a, b = torch.meshgrid(plane.alphas, plane.betas, indexing="ij")
    return {"alpha": a.reshape(-1).tolist(), "beta": b.reshape(-1).tolist(),
            "loss": plane.loss.reshape(-1).tolist(), "accuracy": plane.accuracy.reshape(-1).tolist()}


def result_from_dict(obj: Mapping[str, Any]) -> Line | Plane:
    """Inverse of ``Line.to_dict`` / ``Plane.to_dict``; a malformed dict is a :class:`StoreError`."""
    try:
        kind = obj["type"]
        if kind == "line":
            return Line(_tensor(obj["alphas"]), _tensor(obj["loss"]), _tensor(obj["accuracy"]),
                        str(obj["direction_kind"]), dict(obj["settings"]))
        if kind == "plane":
            return Plane(_tensor(obj["alphas"]), _tensor(obj["betas"]), _tensor(obj["loss"]),
                         _tensor(obj["accuracy"]), dict(obj["settings"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"landscape record is malformed ({type(exc).__name__}: {exc}); recompute it") from None
    raise StoreError(f"landscape record has unknown type {kind!r}; expected 'line' or 'plane'")


def _floats(t: torch.Tensor) -> list[float | None]:
    return [float(x) if math.isfinite(x) else None for x in t.detach().cpu().double().reshape(-1).tolist()]


def _tensor(values: Any) -> torch.Tensor:
    if values and isinstance(values[0], list):
        return torch.tensor([[math.nan if v is None else v for v in row] for row in values], dtype=torch.float64)
    return torch.tensor([math.nan if v is None else v for v in values], dtype=torch.float64)
