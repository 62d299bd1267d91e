"""Analytic shape arithmetic and argument checks shared by the model builders.

Flatten sizes are computed from ``in_shape`` with the usual PyTorch formulas, never by a dummy
forward pass, and a shape that collapses to zero raises :class:`ConfigError` naming the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hessianlab.errors import ConfigError

__all__ = ["check_in_shape", "scale_width", "SpatialTracker"]

#: models that accept inputs whose height or width is tiny (e.g. MNIST-1D, shaped (1, 1, 40))
ANY_SHAPE_MODELS: tuple[str, ...] = ("mlp", "logreg")


def check_in_shape(in_shape: Sequence[int]) -> tuple[int, int, int]:
    """Validate ``in_shape`` as ``(C, H, W)`` of positive ints and return it as a tuple."""
    try:
        dims = tuple(in_shape)
    except TypeError:
        raise ConfigError(f"in_shape: expected (C, H, W) of positive integers, got {in_shape!r}") from None
    if len(dims) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise ConfigError(f"in_shape: expected (C, H, W) of positive integers, got {in_shape!r}")
    return dims  # type: ignore[return-value]


def scale_width(count: int, width: float) -> int:
    """``count * width`` rounded half up, at least 1 (channel and hidden-unit counts)."""
    return max(1, int(math.floor(count * width + 0.5)))


class SpatialTracker:
    """Follows ``(H, W)`` through convolutions and pools for one model, raising on collapse.

    Args:
        model: registry name, for error messages.
        in_shape: ``(C, H, W)``.
        min_hw: smallest admissible input height/width (the model's largest kernel), so a
            1-pixel-high signal such as MNIST-1D is refused even where padding would keep it alive.
    """

    def __init__(self, model: str, in_shape: tuple[int, int, int], *, min_hw: int) -> None:
        self.model = model
        self.in_shape = in_shape
        _, h, w = in_shape
        if h < min_hw or w < min_hw:
            raise ConfigError(self._message(f"needs an image with H, W >= {min_hw}"))
        self.h, self.w = h, w

    def _message(self, need: str) -> str:
        return (
            f"in_shape: model {self.model!r} {need}, got {self.in_shape}; "
            f"models that accept any (C, H, W) such as MNIST-1D (1, 1, 40): {', '.join(ANY_SHAPE_MODELS)}"
        )

    def _apply(self, kernel: int, stride: int, padding: int, what: str) -> None:
        h = (self.h + 2 * padding - kernel) // stride + 1
        w = (self.w + 2 * padding - kernel) // stride + 1
        if h < 1 or w < 1:
            raise ConfigError(self._message(f"shrinks the input to nothing at a {what} (input too small)"))
        self.h, self.w = h, w

    def conv(self, kernel: int, stride: int = 1, padding: int = 0) -> None:
        """Square ``Conv2d(kernel, stride, padding)``."""
        self._apply(kernel, stride, padding, f"{kernel}x{kernel} convolution")

    def pool(self, kernel: int, stride: int | None = None, padding: int = 0) -> None:
        """Square ``MaxPool2d(kernel, stride, padding)`` (floor mode)."""
        self._apply(kernel, kernel if stride is None else stride, padding, f"{kernel}x{kernel} pooling")

    def numel(self, channels: int) -> int:
        """Flattened size ``channels * H * W`` at the current point."""
        return channels * self.h * self.w
