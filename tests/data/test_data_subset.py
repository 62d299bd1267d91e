"""stratified_subset: deterministic per seed, class proportions kept up to rounding, bounds checked."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hessianlab.data import load_dataset, stratified_subset
from hessianlab.data.subset import class_quotas
from hessianlab.errors import ConfigError


def test_deterministic_and_seed_dependent():
    labels = torch.arange(1000) % 7
    a = stratified_subset(labels, 100, seed=3)
    assert torch.equal(a, stratified_subset(labels, 100, seed=3))
    assert not torch.equal(a, stratified_subset(labels, 100, seed=4))
    assert a.dtype == torch.int64 and torch.equal(a, torch.sort(a).values) and len(set(a.tolist())) == 100


def test_known_quotas():
    # 60/30/10 split of 100 -> exactly 6/3/1 of 10
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    picked = labels[stratified_subset(labels, 10, seed=0)]
    assert torch.bincount(picked).tolist() == [6, 3, 1]
    # largest remainder: counts (5, 3, 2) of 10, n = 5 -> exact (2.5, 1.5, 1.0); ties go to the smaller label
    assert class_quotas(torch.tensor([5, 3, 2]), 5).tolist() == [3, 1, 1]
    assert class_quotas(torch.tensor([1, 1, 1]), 2).tolist() == [1, 1, 0]


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 40), min_size=1, max_size=8), frac=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**31 - 1))
def test_stratification_property(counts, frac, seed):
    labels = torch.repeat_interleave(torch.arange(len(counts)) * 3, torch.tensor(counts))  # non-contiguous labels
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]
    total = len(labels)
    n = max(1, min(total, round(frac * total)))
    idx = stratified_subset(labels, n, seed)
    assert idx.shape == (n,) and len(set(idx.tolist())) == n and 0 <= int(idx.min()) and int(idx.max()) < total
    picked = labels[idx]
    for k, c in enumerate(counts):
        got = int((picked == 3 * k).sum())
        assert abs(got - n * c / total) < 1.0  # floor or ceil of the exact share


@pytest.mark.parametrize("n", [0, -1, 11, 2.5])
def test_impossible_sizes(n):
    with pytest.raises(ConfigError, match="subset"):
        stratified_subset(torch.arange(10) % 2, n, 0)


def test_full_size_is_everything():
    assert torch.equal(stratified_subset(torch.arange(10) % 3, 10, 5), torch.arange(10))


def test_load_dataset_subset_matches_function():
    full = load_dataset("synthetic", "train")
    part = load_dataset("synthetic", "train", subset=200, seed=9)
    idx = stratified_subset(full.labels, 200, 9)
    assert torch.equal(part.images, full.images[idx]) and torch.equal(part.labels, full.labels[idx])
    assert torch.bincount(part.labels).tolist() == [20] * 10
    assert part.meta.mean == full.meta.mean  # statistics stay those of the full training split
