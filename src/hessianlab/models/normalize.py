"""Input normalisation as the first layer of every model.

Every model of the zoo consumes pixels in ``[0, 1]``; the per-channel standardisation
``(x - mean) / std`` happens inside the model, so an attack epsilon, an input Hessian or an input
gradient is always expressed in pixel units, exactly as in the papers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from hessianlab.errors import ConfigError

__all__ = ["Normalize"]


def _per_channel(
    value: float | Sequence[float] | torch.Tensor | None,
    *,
    field: str,
    channels: int,
    default: float,
) -> torch.Tensor:
    """Turn ``None``, a scalar or a length-``channels`` sequence into a float32 tensor ``(channels,)``."""
    if value is None:
        return torch.full((channels,), float(default))
    if isinstance(value, torch.Tensor):
        values = [float(v) for v in value.detach().reshape(-1).tolist()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        values = [float(value)] * channels
    else:
        try:
            values = [float(v) for v in value]  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ConfigError(
                f"{field}: expected None, a number or {channels} numbers (one per channel), got {value!r}"
            ) from None
    if len(values) == 1 and channels > 1:
        values = values * channels
    if len(values) != channels:
        raise ConfigError(
            f"{field}: expected {channels} values (one per input channel), got {len(values)}: {values}"
        )
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{field}: values must be finite, got {values}")
    return torch.tensor(values, dtype=torch.float32)


class Normalize(nn.Module):
    """Per-channel standardisation ``(x - mean) / std``.

    Args:
        mean: ``None`` (0 for every channel), a scalar, or one value per channel (pixel units).
        std: ``None`` (1 for every channel), a scalar, or one positive value per channel.
        channels: number of input channels ``C``.

    Shapes:
        input ``(N, C, H, W)`` (or an unbatched ``(C, H, W)``), output of the same shape.

    ``mean`` and ``std`` are persistent buffers of shape ``(C, 1, 1)``: they follow ``.to()`` /
    ``.double()``, are saved in the ``state_dict`` and are not parameters (a parameter Hessian
    never sees them).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        mean: float | Sequence[float] | torch.Tensor | None = None,
        std: float | Sequence[float] | torch.Tensor | None = None,
        *,
        channels: int = 1,
    ) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ConfigError(f"in_shape: the channel count must be a positive integer, got {channels!r}")
        mean_t = _per_channel(mean, field="mean", channels=channels, default=0.0)
        std_t = _per_channel(std, field="std", channels=channels, default=1.0)
        if bool((std_t <= 0).any()):
            raise ConfigError(f"std: every value must be > 0, got {std_t.tolist()}")
        self.register_buffer("mean", mean_t.view(channels, 1, 1))
        self.register_buffer("std", std_t.view(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` broadcast over the channel axis; ``x`` in pixel units."""
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
