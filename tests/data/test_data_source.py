"""as_batches: one data notion over tensors, Datasets and re-iterables of batches (weights, N, refusals,
the determinism checks)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler, Subset, TensorDataset

from hessianlab.data import make_synthetic
from hessianlab.data.source import as_batches, move_batch
from hessianlab.errors import ConfigError

F64 = torch.float64


def xy(n: int = 23) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, generator=g), torch.randint(0, 4, (n,), generator=g)


def collect(src) -> tuple[list, list[float]]:
    pairs = list(src)
    return [b for b, _ in pairs], [w for _, w in pairs]


def test_tensors_chunks_weights_and_samples() -> None:
    x, y = xy()
    src = as_batches((x, y), chunk_size=5, dtype=F64)
    batches, weights = collect(src)
    assert (src.kind, src.num_samples, src.num_batches) == ("tensors", 23, 5)
    assert weights == [5 / 23] * 4 + [3 / 23]
    assert all(b[0].dtype == F64 and b[1].dtype == torch.int64 for b in batches)
    torch.testing.assert_close(torch.cat([b[0] for b in batches]), x.double())
    sub = as_batches((x, y), samples=7, seed=3, chunk_size=4)
    assert sub.num_samples == 7 and sub.dataset_size == 23 and sub.sample_indices is not None
    torch.testing.assert_close(torch.cat([b[0] for b, _ in sub]), x[sub.sample_indices])
    ds = make_synthetic(12, shape=(1, 4, 4), num_classes=3)
    assert as_batches(ds).num_samples == 12 and as_batches(ds).settings["data"] == "tensors"


@pytest.mark.parametrize("batch_size", [1, 4, 23, 50])
def test_loader_counts_n_and_weights_every_batch_by_its_size(batch_size: int) -> None:
    x, y = xy()
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    src = as_batches(loader, dtype=F64)
    batches, weights = collect(src)
    assert src.kind == "loader" and src.num_samples == 23 and src.num_batches == -(-23 // batch_size)
    assert weights == [b[0].shape[0] / 23 for b in batches] and abs(sum(weights) - 1) < 1e-15
    got = torch.cat([b[0] for b in batches])
    torch.testing.assert_close(got.sum(0), x.double().sum(0))  # the same samples, in another order
    split = as_batches(loader, chunk_size=3)
    assert max(b[0].shape[0] for b, _ in split) <= 3 and split.num_samples == 23


def test_lists_callables_and_structured_batches() -> None:
    x, y = xy()
    batches = [(x[:10], y[:10]), (x[10:], y[10:])]
    assert as_batches(batches).num_samples == 23
    assert as_batches(lambda: iter(batches)).num_batches == 2
    dicts = [{"a": x[:10], "b": x[:10] * 2, "target": y[:10], "tag": "first"}, {"a": x[10:], "b": x[10:], "target": y[10:],
                                                                            "tag": "second"}]
    src = as_batches(dicts, structured=True, dtype=F64)
    first = next(iter(src))[0]
    assert src.num_samples == 23 and first["a"].dtype == F64 and first["tag"] == "first"
    moved = move_batch(([x], {"k": y}), torch.device("cpu"), F64)
    assert moved[0][0].dtype == F64 and moved[1]["k"].dtype == torch.int64


def test_refusals_are_one_clear_config_error() -> None:
    x, y = xy()
    batches = [(x[:10], y[:10]), (x[10:], y[10:])]
    cases = [
        ((b for b in batches), "one-shot"),
        (iter(batches), "one-shot"),
        ([], "no samples"),
        (DataLoader(TensorDataset(x[:0], y[:0]), batch_size=4), "no samples"),
        ([x[:4], x[4:8], x[8:]], "not an \\(x, y\\) pair"),
        ([{"x": x, "y": y}], "BatchLoss"),
        (TensorDataset(x, y), "wrap it"),
        (42, "not supported"),
        (lambda: 3, "not an iterator"),
    ]
    for data, match in cases:
        with pytest.raises(ConfigError, match=match):
            as_batches(data)
    with pytest.raises(ConfigError, match="in-memory"):
        as_batches(batches, samples=5)
    with pytest.raises(ConfigError, match="chunk_size"):
        as_batches((x, y), chunk_size=0)
    with pytest.raises(ConfigError, match="holds no tensor"):
        as_batches([["a", "b"]], structured=True)


class RandomJitter:
    """A transform named like torchvision's random ones (the static check goes by class name)."""

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t + 0.01 * torch.randn_like(t)


class Compose:
    def __init__(self, transforms: list) -> None:
        self.transforms = transforms

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        for f in self.transforms:
            t = f(t)
        return t


class TransformedData(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.transform(self.x[i]), self.y[i]


def test_random_transforms_and_random_samplers_are_refused_at_construction() -> None:
    x, y = xy()
    for transform in (RandomJitter(), Compose([lambda t: t, RandomJitter()])):
        ds = TransformedData(x, y, transform)
        for data in (ds, Subset(ds, [0, 1, 2])):
            with pytest.raises(ConfigError, match="random transform RandomJitter"):
                as_batches(DataLoader(data, batch_size=4))
    deterministic = TransformedData(x, y, Compose([lambda t: 2 * t]))
    assert as_batches(DataLoader(deterministic, batch_size=4)).num_samples == 23
    data = TensorDataset(x, y)
    with pytest.raises(ConfigError, match="with replacement"):
        as_batches(DataLoader(data, batch_size=4, sampler=RandomSampler(data, replacement=True)))
    with pytest.raises(ConfigError, match="drop_last"):
        as_batches(DataLoader(data, batch_size=4, shuffle=True, drop_last=True))
    assert as_batches(DataLoader(data, batch_size=4, drop_last=True)).num_samples == 20


def test_a_pass_that_sees_other_samples_raises_and_shuffling_does_not() -> None:
    x, y = xy()
    draws = iter(range(100))

    def augmenting():  # random augmentation the static check cannot see: a fresh flip each pass
        flip = next(draws) % 2 == 1
        return iter([(x.flip(1) if flip else x, y)])

    src = as_batches(augmenting)
    with pytest.raises(ConfigError, match="other samples than on its first pass"):
        list(src)
    shuffled = as_batches(DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True))
    for _ in range(3):
        assert len(list(shuffled)) == 5
    grows = iter([[(x, y)], [(x, y), (x[:1], y[:1])]])
    with pytest.raises(ConfigError, match="other samples"):
        list(as_batches(lambda: iter(next(grows))))
