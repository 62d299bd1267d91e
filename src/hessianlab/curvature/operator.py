"""The one linear-operator type every curvature solver accepts.

An operator represents a symmetric matrix ``A`` of shape ``(n, n)`` that is only available through
products. Solvers call :meth:`LinearOperator.matvec` on flat vectors (shape ``(n,)``) and, where it pays,
:meth:`LinearOperator.matmat` on blocks (shape ``(n, k)``). ``settings`` describes what the operator is
(which samples, model mode, dtype, parameters, ...) and is copied into every result a solver returns.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch


class LinearOperator:
    """Abstract symmetric linear operator on flat vectors.

    Subclasses implement :meth:`_matvec`. ``num_matvecs`` counts products (a ``matmat`` with ``k``
    columns counts ``k``) and ``num_passes`` counts passes over the operator's data (a ``matvec`` is one
    pass; a ``matmat`` that computes its ``k`` columns in one pass counts one, the column loop counts
    ``k``), so solvers can report both costs exactly. At full-dataset scale a pass, not a product, is
    what costs.
    """

    def __init__(self, size: int, dtype: torch.dtype, device: torch.device | str = "cpu") -> None:
        self.size = int(size)
        self.dtype = dtype
        self.device = torch.device(device)
        self.num_matvecs = 0
        self.num_passes = 0

    @property
    def shape(self) -> tuple[int, int]:
        """``(size, size)``."""
        return (self.size, self.size)

    @property
    def settings(self) -> Mapping[str, Any]:
        """What defines the operator (JSON-serialisable); recorded in solver results."""
        return {"operator": type(self).__name__, "size": self.size, "dtype": str(self.dtype).removeprefix("torch.")}

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Return ``A @ v`` for ``v`` of shape ``(n,)`` (same dtype and device as the operator)."""
        if v.shape != (self.size,):
            raise ValueError(f"matvec expects a vector of shape ({self.size},), got {tuple(v.shape)}")
        self.num_matvecs += 1
        self.num_passes += 1
        return self._matvec(v)

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """Return ``A @ V`` for ``V`` of shape ``(n, k)``; subclasses may batch this."""
        return torch.stack([self.matvec(V[:, j]) for j in range(V.shape[1])], dim=1)

    def __matmul__(self, v: torch.Tensor) -> torch.Tensor:
        return self.matvec(v) if v.dim() == 1 else self.matmat(v)


class MatrixOperator(LinearOperator):
    """A dense symmetric matrix ``(n, n)`` wrapped as an operator (tests, small problems)."""

    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__(matrix.shape[0], matrix.dtype, matrix.device)
        self.matrix = matrix

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matrix @ v

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        self.num_matvecs += V.shape[1]
        self.num_passes += 1
        return self.matrix @ V


class FunctionOperator(LinearOperator):
    """An operator defined by a callable ``v -> A v``."""

    def __init__(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        size: int,
        dtype: torch.dtype,
        device: torch.device | str = "cpu",
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(size, dtype, device)
        self._fn = fn
        self._extra = dict(settings or {})

    @property
    def settings(self) -> Mapping[str, Any]:
        return {**super().settings, **self._extra}

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self._fn(v)
