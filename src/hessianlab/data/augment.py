"""Batched, seeded data augmentation on in-memory tensors: random crop with zero padding and horizontal flip.

A random crop of size ``H x W`` out of the image zero-padded by ``p`` on every side is the same as a
translation of the image by ``(dy, dx)`` with ``dy, dx`` uniform in ``{-p, ..., p}`` and zero fill, which
is how it is implemented here (:func:`translate`, one gather, no Python loop over samples).
"""

from __future__ import annotations

import torch

from hessianlab.errors import ConfigError

__all__ = ["augment", "translate"]


def translate(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Shift each image by integer pixel offsets, filling with zeros.

    ``out[i, c, h, w] = images[i, c, h - dy[i], w - dx[i]]`` where that index is inside the image, else 0;
    a positive ``dy`` moves the content down, a positive ``dx`` moves it right.

    Args:
        images: ``(N, C, H, W)``.
        dy: ``(N,)`` integer row offsets (``|dy| <= H`` not required: larger shifts give 0).
        dx: ``(N,)`` integer column offsets (``|dx| <= W`` not required: larger shifts give 0).

    Returns:
        a new ``(N, C, H, W)`` tensor; ``images`` is not modified.
    """
    n, c, h, w = images.shape
    device = images.device
    dy = dy.to(device=device, dtype=torch.int64)
    dx = dx.to(device=device, dtype=torch.int64)
    rows = torch.arange(h, device=device)[None, :] - dy[:, None]  # (N, H) source row per output row
    cols = torch.arange(w, device=device)[None, :] - dx[:, None]  # (N, W)
    row_ok = (rows >= 0) & (rows < h)
    col_ok = (cols >= 0) & (cols < w)
    batch = torch.arange(n, device=device)[:, None, None]
    gathered = images[batch, :, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]  # (N, H, W, C)
    mask = (row_ok[:, :, None] & col_ok[:, None, :])[..., None]
    zero = torch.zeros((), dtype=images.dtype, device=device)
    return torch.where(mask, gathered, zero).permute(0, 3, 1, 2).contiguous()


def augment(images: torch.Tensor, *, crop_padding: int = 4, flip: bool = True,
            generator: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding ``crop_padding``) then random horizontal flip, per sample.

    Draws, in this order from ``generator``: ``dy`` then ``dx`` (``torch.randint(-p, p + 1, (N,))`` each,
    only when ``p > 0``), then the flip coins (``torch.rand(N) < 0.5``, only when ``flip``). The same
    generator state therefore gives the same output. The generator may live on CPU or on ``images.device``.

    Args:
        images: ``(N, C, H, W)`` pixels (any float dtype).
        crop_padding: ``p >= 0``; 0 disables the crop.
        flip: apply a horizontal flip (last axis) with probability 1/2.
        generator: source of randomness.

    Returns:
        a new ``(N, C, H, W)`` tensor, same dtype and device as ``images``.
    """
    if images.ndim != 4:
        raise ConfigError(f"augment expects (N, C, H, W) images, got shape {tuple(images.shape)}")
    if crop_padding < 0:
        raise ConfigError(f"crop_padding must be >= 0, got {crop_padding}")
    n = images.shape[0]
    gen_device = generator.device
    out = images
    if crop_padding > 0:
        dy = torch.randint(-crop_padding, crop_padding + 1, (n,), generator=generator, device=gen_device)
        dx = torch.randint(-crop_padding, crop_padding + 1, (n,), generator=generator, device=gen_device)
        out = translate(images, dy, dx)
    if flip:
        coins = (torch.rand(n, generator=generator, device=gen_device) < 0.5).to(images.device)
        out = torch.where(coins[:, None, None, None], out.flip(-1), out)
    elif out is images:
        out = images.clone()
    return out
