"""BatchIterator: exact coverage under changing batch sizes, determinism per (seed, epoch), resume."""

from __future__ import annotations

import functools

import pytest
import torch

from hessianlab.data import BatchIterator, augment, make_synthetic
from hessianlab.errors import ConfigError

N = 103


def _data():
    x = torch.arange(N, dtype=torch.float32)[:, None, None, None].expand(N, 1, 4, 4).clone()
    y = torch.arange(N)
    return x, y


def test_every_sample_once_with_changing_batch_size():
    it = BatchIterator(_data(), batch_size=10, seed=0)
    ep = it.epoch(0)
    sizes = [10, 3, 50, 1, 7, 64]
    seen, got_sizes = [], []
    for k, (x, y) in enumerate(ep):
        assert torch.equal(x[:, 0, 0, 0].long(), y)  # x and y stay paired
        seen += y.tolist()
        got_sizes.append(len(y))
        assert ep.position == len(seen)
        ep.batch_size = sizes[(k + 1) % len(sizes)]
    assert sorted(seen) == list(range(N))
    assert got_sizes == [10, 3, 50, 1, 7, 32]
    assert seen == ep.permutation.tolist()


def test_next_batch_sets_size():
    ep = BatchIterator(_data(), batch_size=4, seed=1).epoch(0)
    assert len(ep.next_batch()[1]) == 4
    assert len(ep.next_batch(20)[1]) == 20
    assert len(ep.next_batch()[1]) == 20 and ep.position == 44 and ep.remaining == N - 44
    with pytest.raises(ConfigError):
        ep.batch_size = 0


def test_deterministic_per_seed_and_epoch():
    a, b, c = (BatchIterator(_data(), batch_size=8, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.permutation(0), b.permutation(0))
    assert not torch.equal(a.permutation(0), a.permutation(1))
    assert not torch.equal(a.permutation(0), c.permutation(0))
    assert [y.tolist() for _, y in a.epoch(2)] == [y.tolist() for _, y in b.epoch(2)]
    assert torch.equal(BatchIterator(_data(), batch_size=8, shuffle=False).permutation(5), torch.arange(N))


def test_resume_mid_epoch_reproduces_rest_including_augmentation():
    x, y = make_synthetic(50, (1, 8, 8), 5, seed=0)
    aug = functools.partial(augment, crop_padding=2)
    it = BatchIterator((x, y), batch_size=6, seed=9, augment=aug)
    plan = [6, 6, 11, 4, 9, 9, 9]

    def run(ep, sizes):
        out = []
        for size in sizes:
            try:
                out.append(ep.next_batch(size))
            except StopIteration:
                break
        return out

    full = run(it.epoch(3), plan)
    partial = it.epoch(3)
    head = run(partial, plan[:3])
    assert partial.position == 23
    resumed = run(it.epoch(3, start=partial.position), plan[3:])
    assert len(head) + len(resumed) == len(full)
    for (xa, ya), (xb, yb) in zip(head + resumed, full):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # augmentation actually changed the inputs of the batch (labels untouched)
    perm = it.permutation(3)
    assert torch.equal(full[0][1], y[perm[:6]]) and not torch.equal(full[0][0], x[perm[:6]])


def test_drop_last_and_bounds():
    it = BatchIterator(_data(), batch_size=25, seed=0, drop_last=True)
    sizes = [len(y) for _, y in it.epoch(0)]
    assert sizes == [25, 25, 25, 25] and it.batches_per_epoch() == 4
    assert BatchIterator(_data(), batch_size=25).batches_per_epoch() == 5
    with pytest.raises(ConfigError):
        it.epoch(0, start=N + 1)
    assert list(it.epoch(0, start=N)) == []
    with pytest.raises(ConfigError):
        BatchIterator((torch.zeros(3, 1), torch.zeros(4)), batch_size=1)


def test_dataset_input_and_no_mutation():
    from hessianlab.data import load_dataset

    ds = load_dataset("synthetic:train=40,test=10", "train")
    before = ds.images.clone()
    it = BatchIterator(ds, batch_size=16, seed=0, augment=augment)
    xs = torch.cat([x for x, _ in it.epoch(0)])
    assert xs.shape == (40, 1, 8, 8) and torch.equal(ds.images, before)


def test_augmentation_draws_differ_between_batches():
    # identical samples: any difference between two batches comes from the augmentation draws
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)).expand(40, 1, 8, 8).clone()
    it = BatchIterator((x, torch.zeros(40, dtype=torch.long)), batch_size=20, seed=0, augment=augment)
    first, second = (b for b, _ in it.epoch(0))
    assert not torch.equal(first, second)
    assert not torch.equal(first, next(iter(it.epoch(1)))[0])
