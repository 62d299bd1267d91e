"""Registry: generated datasets (digits, mnist1d, synthetic), names, splits, available_datasets."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from hessianlab.data import DATASET_NAMES, available_datasets, load_dataset, make_synthetic
from hessianlab.errors import ConfigError


def _check_common(ds, shape, n):
    assert ds.images.shape == (n, *shape) and ds.images.dtype == torch.float32
    assert ds.labels.shape == (n,) and ds.labels.dtype == torch.int64
    assert float(ds.images.min()) >= 0.0 and float(ds.images.max()) <= 1.0
    assert ds.meta.shape == shape and len(ds.meta.mean) == shape[0] == len(ds.meta.std)


def test_digits():
    from sklearn.datasets import load_digits

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    _check_common(train, (1, 8, 8), 1438)
    _check_common(test, (1, 8, 8), 359)
    assert float(train.images.max()) == 1.0  # pixels / 16
    # train and test partition the bundled data: sorted pixel sums match as multisets
    bunch = load_digits()
    sums = np.sort(np.concatenate([train.images.sum((1, 2, 3)).numpy(), test.images.sum((1, 2, 3)).numpy()]))
    np.testing.assert_allclose(sums, np.sort(bunch.images.sum((1, 2)) / 16.0), rtol=0, atol=1e-4)
    # stratified: every class share within one sample of 80 %
    full = np.bincount(bunch.target)
    assert np.all(np.abs(np.bincount(train.labels.numpy()) - 0.8 * full) <= 1)
    # the split does not depend on the subset seed
    assert torch.equal(load_dataset("digits", "test", seed=5).labels, test.labels)
    assert train.meta.mean[0] == pytest.approx(float(train.images.double().mean()), abs=1e-9)


def test_breast_cancer():
    from sklearn.datasets import load_breast_cancer

    train, test = load_dataset("breast-cancer", "train"), load_dataset("breast_cancer", "test")
    _check_common(train, (1, 1, 30), 455)
    _check_common(test, (1, 1, 30), 114)
    assert train.meta.classes == ("malignant", "benign")
    # min-max scaled per feature with the training split: every feature spans exactly [0, 1] on train
    flat = train.images.reshape(455, 30)
    assert torch.equal(flat.min(0).values, torch.zeros(30)) and torch.equal(flat.max(0).values, torch.ones(30))
    # the split partitions the bundled data and is stratified
    bunch = load_breast_cancer()
    assert np.array_equal(np.bincount(train.labels.numpy()) + np.bincount(test.labels.numpy()),
                          np.bincount(bunch.target))
    assert np.all(np.abs(np.bincount(train.labels.numpy()) - 0.8 * np.bincount(bunch.target)) <= 1)


def test_mnist1d_shape_range_and_global_rng_untouched():
    random.seed(123)
    np.random.seed(123)
    py_before, np_before = random.random(), np.random.rand()
    random.seed(123)
    np.random.seed(123)
    train, test = load_dataset("mnist1d", "train"), load_dataset("mnist1d", "test")
    assert (random.random(), np.random.rand()) == (py_before, np_before)
    _check_common(train, (1, 1, 40), 4000)
    _check_common(test, (1, 1, 40), 1000)
    assert float(train.images.min()) == 0.0 and float(train.images.max()) == 1.0  # min-max on train
    assert torch.equal(load_dataset("mnist1d", "train").images, train.images)  # deterministic
    assert torch.bincount(train.labels, minlength=10).min() > 300


def test_synthetic_defaults_and_options():
    train, test = load_dataset("synthetic", "train"), load_dataset("synthetic", "test")
    _check_common(train, (1, 8, 8), 2000)
    _check_common(test, (1, 8, 8), 500)
    assert not torch.equal(train.images[:500], test.images)
    # same mixture: nearest class centre of the train split classifies the test split well
    centres = torch.stack([train.images[train.labels == k].mean(0) for k in range(10)]).flatten(1)
    pred = torch.cdist(test.images.flatten(1), centres).argmin(1)
    assert float((pred == test.labels).float().mean()) > 0.9
    ds = load_dataset("synthetic:classes=3,shape=3x5x6,train=30,test=12,noise=0.05,data_seed=2", "test")
    _check_common(ds, (3, 5, 6), 12)
    assert ds.meta.name == "synthetic:shape=3x5x6,classes=3,train=30,test=12,noise=0.05,data_seed=2"
    assert torch.equal(load_dataset(ds.meta.name, "test").images, ds.images)  # the name reloads the same data
    with pytest.raises(ConfigError, match="synthetic"):
        load_dataset("synthetic:colour=red", "train")


def test_make_synthetic():
    x, y = make_synthetic(37, (2, 3, 4), 4, seed=1)
    assert x.shape == (37, 2, 3, 4) and y.shape == (37,) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.bincount(y).tolist() == [10, 9, 9, 9]
    x2, y2 = make_synthetic(37, (2, 3, 4), 4, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, make_synthetic(37, (2, 3, 4), 4, seed=2)[0])


def test_unknown_names_and_splits():
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset("imagenet", "train")
    with pytest.raises(ConfigError, match="split"):
        load_dataset("digits", "validation")
    assert load_dataset("MNIST-1D", "test").meta.name == "mnist1d"


def test_available_datasets_lists_everything(tmp_path, datafiles):
    datafiles.make_idx_folder(tmp_path / "mnist")
    infos = {i.name: i for i in available_datasets(root=tmp_path)}
    assert set(infos) == set(DATASET_NAMES)
    assert infos["mnist"].available and infos["mnist"].where == str(tmp_path / "mnist")
    assert not infos["cifar10"].available and "--download cifar10" in infos["cifar10"].note
    assert infos["digits"].available and infos["synthetic"].available
    assert all("\n" not in i.note for i in infos.values())
