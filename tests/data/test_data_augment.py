"""augment/translate: exact shifts with zero fill, exact flips, determinism per generator seed."""

from __future__ import annotations

import pytest
import torch

from hessianlab.data import augment, translate
from hessianlab.errors import ConfigError


def _images(n=6, c=2, h=5, w=7):
    return (torch.arange(n * c * h * w, dtype=torch.float32) + 1).reshape(n, c, h, w)


def test_translate_specific_case():
    x = _images(n=2)
    out = translate(x, torch.tensor([1, -2]), torch.tensor([-3, 0]))
    expected = torch.zeros_like(x)
    expected[0, :, 1:, :-3] = x[0, :, :-1, 3:]  # content moves down 1, left 3
    expected[1, :, :-2, :] = x[1, :, 2:, :]  # content moves up 2
    assert torch.equal(out, expected)
    assert torch.equal(translate(x, torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long)), x)
    assert torch.equal(translate(x, torch.tensor([5, 0]), torch.tensor([0, -7])), torch.zeros_like(x))


def test_crop_equals_pad_then_slice():
    # random crop definition: pad by p with zeros, take the H x W window at (p + dy', p + dx')
    x = _images(n=1)
    p = 2
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    for oy in range(2 * p + 1):
        for ox in range(2 * p + 1):
            window = padded[:, :, oy: oy + 5, ox: ox + 7]
            assert torch.equal(translate(x, torch.tensor([p - oy]), torch.tensor([p - ox])), window)


def test_augment_is_a_shifted_possibly_flipped_copy():
    x = _images(n=64)
    p = 2
    out = augment(x, crop_padding=p, flip=True, generator=torch.Generator().manual_seed(0))
    shifts = set()
    flips = 0
    for i in range(x.shape[0]):
        matches = [(dy, dx, f) for dy in range(-p, p + 1) for dx in range(-p, p + 1) for f in (False, True)
                   if torch.equal(out[i], (lambda t: t.flip(-1) if f else t)(
                       translate(x[i: i + 1], torch.tensor([dy]), torch.tensor([dx])))[0])]
        assert len(matches) == 1, i
        shifts.add(matches[0][:2])
        flips += matches[0][2]
    assert len(shifts) > 10 and 10 < flips < 54  # both coins and shifts actually vary


def test_augment_reproduces_draw_order():
    x = _images(n=8)
    gen = torch.Generator().manual_seed(11)
    out = augment(x, crop_padding=3, flip=True, generator=gen)
    ref = torch.Generator().manual_seed(11)
    dy = torch.randint(-3, 4, (8,), generator=ref)
    dx = torch.randint(-3, 4, (8,), generator=ref)
    coins = torch.rand(8, generator=ref) < 0.5
    expected = translate(x, dy, dx)
    expected[coins] = expected[coins].flip(-1)
    assert torch.equal(out, expected)


def test_flip_only_and_identity_and_no_mutation():
    x = _images(n=32)
    before = x.clone()
    out = augment(x, crop_padding=0, flip=True, generator=torch.Generator().manual_seed(1))
    flipped = torch.tensor([torch.equal(out[i], x[i].flip(-1)) for i in range(32)])
    kept = torch.tensor([torch.equal(out[i], x[i]) for i in range(32)])
    assert bool((flipped ^ kept).all()) and 0 < int(flipped.sum()) < 32
    same = augment(x, crop_padding=0, flip=False, generator=torch.Generator())
    assert torch.equal(same, x) and same.data_ptr() != x.data_ptr()
    assert torch.equal(x, before)


def test_deterministic_per_seed():
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    a = augment(x, generator=torch.Generator().manual_seed(5))
    b = augment(x, generator=torch.Generator().manual_seed(5))
    c = augment(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_arguments():
    with pytest.raises(ConfigError):
        augment(torch.zeros(3, 8, 8), generator=torch.Generator())
    with pytest.raises(ConfigError):
        augment(torch.zeros(1, 3, 8, 8), crop_padding=-1, generator=torch.Generator())
