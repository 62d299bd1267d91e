"""Set a model's train/eval mode for the duration of a block, then restore every submodule exactly.

``model.train()`` / ``model.eval()`` overwrite ``.training`` on every submodule, which loses a mixed
state (e.g. a frozen BatchNorm kept in eval inside a model in train mode). :func:`model_mode` records the
per-module flags and puts each one back, even when the block raises.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Literal

import torch.nn as nn

from hessianlab.errors import ConfigError

Mode = Literal["eval", "train"]
MODES: tuple[str, ...] = ("eval", "train")


def check_mode(mode: str) -> Mode:
    """Return ``mode`` if it is ``'eval'`` or ``'train'``; otherwise raise :class:`ConfigError`."""
    if mode not in MODES:
        raise ConfigError(f"mode must be 'eval' or 'train', got {mode!r}; pick one explicitly")
    return mode  # type: ignore[return-value]


@contextmanager
def model_mode(model: nn.Module, mode: Mode) -> Iterator[nn.Module]:
    """Put ``model`` (all submodules) in ``mode`` inside the block; restore each module's flag after.

    Yields the model itself. Nothing but ``.training`` flags is touched.
    """
    check_mode(mode)
    saved = [(module, module.training) for module in model.modules()]
    model.train(mode == "train")
    try:
        yield model
    finally:
        for module, flag in saved:
            module.training = flag
