"""Datasets made in-process: scikit-learn ``digits`` and ``breast-cancer``, ``mnist1d``, Gaussian-mixture ``synthetic``.

None of them touches the network or the disk. All are deterministic; ``digits`` and ``mnist1d`` are
cached in memory per process (callers get copies).

* ``digits``: the 1797 bundled 8x8 digits, pixels ``/ 16``, shape ``(1, 8, 8)``. Split: a stratified 80/20
  split (1438 train / 359 test) drawn by :func:`~hessianlab.data.subset.stratified_subset` with the fixed
  seed :data:`DIGITS_SPLIT_SEED`, independent of the ``seed`` of :func:`load_dataset`.
* ``breast-cancer``: scikit-learn's bundled Wisconsin diagnostic set (569 samples, 30 features, classes
  malignant/benign) for convex sanity checks (logistic regression, the ABSA appendix). Split: stratified 80/20
  (455 / 114) with the fixed seed :data:`DIGITS_SPLIT_SEED`. Each feature is min-max scaled with the training
  split's minimum and maximum (test values clipped to [0, 1]); shape ``(1, 1, 30)``.
* ``mnist1d``: ``mnist1d.data.make_dataset(get_dataset_args())`` (5000 samples, the package's seed 42,
  4000 train / 1000 test). Min-max scaled with the minimum and maximum of the training split (one pair
  of constants for all positions); test values outside that range are clipped to [0, 1]. Shape ``(1, 1, 40)``.
  The package seeds the global ``random``/``numpy.random`` state; that state is restored afterwards.
* ``synthetic``: :func:`make_synthetic`, options in the name (see :func:`parse_synthetic_name`).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hessianlab.data.subset import stratified_subset
from hessianlab.errors import ConfigError

__all__ = ["DIGITS_SPLIT_SEED", "SyntheticSpec", "breast_cancer_split", "digits_split", "make_synthetic", "mnist1d_split",
           "parse_synthetic_name", "synthetic_split"]

DIGITS_SPLIT_SEED = 0
DIGIT_CLASSES = tuple(str(d) for d in range(10))

Split = tuple[np.ndarray, np.ndarray, tuple[str, ...], str]


@functools.lru_cache(maxsize=1)
def _digits_all() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[:, None, :, :]
    labels = np.asarray(bunch.target, dtype=np.int64)
    is_train = _stratified_mask(labels, 0.8)
    images.setflags(write=False)
    labels.setflags(write=False)
    is_train.setflags(write=False)
    return images, labels, is_train


def digits_split(split: str) -> Split:
    """``(images float32 (N, 1, 8, 8) in [0, 1], labels int64 (N,), classes, source)`` of one split."""
    images, labels, is_train = _digits_all()
    mask = is_train if split == "train" else ~is_train
    return images[mask].copy(), labels[mask].copy(), DIGIT_CLASSES, "generated:sklearn.datasets.load_digits"


def _stratified_mask(labels: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean training mask of a stratified split keeping ``round(fraction * N)`` samples (fixed seed)."""
    n_train = int(round(fraction * labels.shape[0]))
    train_idx = stratified_subset(torch.from_numpy(labels), n_train, DIGITS_SPLIT_SEED).numpy()
    is_train = np.zeros(labels.shape[0], dtype=bool)
    is_train[train_idx] = True
    return is_train


@functools.lru_cache(maxsize=1)
def _breast_cancer_all() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    features = np.asarray(bunch.data, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    is_train = _stratified_mask(labels, 0.8)
    low, high = features[is_train].min(axis=0), features[is_train].max(axis=0)
    scaled = np.clip((features - low) / np.where(high > low, high - low, 1.0), 0.0, 1.0)
    images = scaled.astype(np.float32)[:, None, None, :]
    for array in (images, labels, is_train):
        array.setflags(write=False)
    return images, labels, is_train


def breast_cancer_split(split: str) -> Split:
    """``(features float32 (N, 1, 1, 30) in [0, 1], labels int64 (N,), classes, source)`` of one split."""
    images, labels, is_train = _breast_cancer_all()
    mask = is_train if split == "train" else ~is_train
    return (images[mask].copy(), labels[mask].copy(), ("malignant", "benign"),
            "generated:sklearn.datasets.load_breast_cancer")


@functools.lru_cache(maxsize=1)
def _mnist1d_all() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        raw = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    x_train, x_test = np.asarray(raw["x"], np.float64), np.asarray(raw["x_test"], np.float64)
    lo, hi = float(x_train.min()), float(x_train.max())

    def scale(x: np.ndarray) -> np.ndarray:
        out = np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)[:, None, None, :]
        out.setflags(write=False)
        return out

    return {"x": scale(x_train), "x_test": scale(x_test),
            "y": np.asarray(raw["y"], np.int64), "y_test": np.asarray(raw["y_test"], np.int64)}


def mnist1d_split(split: str) -> Split:
    """``(images float32 (N, 1, 1, 40) in [0, 1], labels int64 (N,), classes, source)`` of one split."""
    data = _mnist1d_all()
    suffix = "" if split == "train" else "_test"
    return (data["x" + suffix].copy(), data["y" + suffix].copy(), DIGIT_CLASSES,
            "generated:mnist1d.make_dataset(get_dataset_args()), min-max scaled on train")


def make_synthetic(n: int, shape: tuple[int, ...] = (1, 8, 8), num_classes: int = 10, seed: int = 0, *,
                   noise: float = 0.2, centers_seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian-mixture images: class centres uniform in [0.2, 0.8] per pixel, isotropic noise, clamped.

    Args:
        n: number of samples.
        shape: ``(C, H, W)`` of one sample.
        num_classes: number of classes; labels are balanced (``arange(n) % num_classes``, shuffled).
        seed: seed of the labels and the noise.
        noise: standard deviation of the per-pixel Gaussian noise (pixel units).
        centers_seed: seed of the class centres (default ``seed``); share it to draw train and test
            samples of the same mixture.

    Returns:
        ``(images, labels)``: float32 ``(n, *shape)`` in [0, 1] and int64 ``(n,)``.
    """
    if n < 1 or num_classes < 1 or len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"synthetic data needs n >= 1, num_classes >= 1 and a (C, H, W) shape; got n={n}, "
                          f"num_classes={num_classes}, shape={tuple(shape)}")
    centres_gen = torch.Generator().manual_seed(int(seed if centers_seed is None else centers_seed))
    centres = 0.2 + 0.6 * torch.rand((num_classes, *shape), generator=centres_gen)
    gen = torch.Generator().manual_seed(int(seed))
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
    images = centres[labels] + noise * torch.randn((n, *shape), generator=gen)
    return images.clamp_(0.0, 1.0).to(torch.float32), labels.to(torch.int64)


@dataclass(frozen=True)
class SyntheticSpec:
    """Options of the ``synthetic`` dataset; :meth:`name` is the canonical registry name."""

    shape: tuple[int, int, int] = (1, 8, 8)
    classes: int = 10
    train: int = 2000
    test: int = 500
    noise: float = 0.2
    data_seed: int = 0

    def name(self) -> str:
        default = SyntheticSpec()
        parts = []
        for key in ("shape", "classes", "train", "test", "noise", "data_seed"):
            value = getattr(self, key)
            if value != getattr(default, key):
                parts.append(f"{key}={'x'.join(map(str, value)) if key == 'shape' else value}")
        return "synthetic" + (":" + ",".join(parts) if parts else "")


def parse_synthetic_name(name: str) -> SyntheticSpec:
    """Parse ``"synthetic"`` or ``"synthetic:shape=3x16x16,classes=4,train=200,test=50,noise=0.3,data_seed=1"``.

    Any subset of the options may be given, in any order; the rest keep their defaults.
    """
    head, _, tail = name.partition(":")
    if head != "synthetic":
        raise ConfigError(f"{name!r} is not a synthetic dataset name; use 'synthetic[:key=value,...]'")
    fields: dict[str, Any] = {}
    for item in filter(None, tail.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        try:
            if not eq:
                raise ValueError("missing '='")
            if key == "shape":
                dims = tuple(int(v) for v in value.lower().split("x"))
                if len(dims) != 3:
                    raise ValueError("shape needs 3 dimensions CxHxW")
                fields[key] = dims
            elif key in ("classes", "train", "test", "data_seed"):
                fields[key] = int(value)
            elif key == "noise":
                fields[key] = float(value)
            else:
                raise ValueError(f"unknown option {key!r}")
        except ValueError as exc:
            raise ConfigError(f"bad synthetic dataset option {item!r} in {name!r} ({exc}); options: "
                              f"shape=CxHxW, classes, train, test, noise, data_seed") from None
    spec = SyntheticSpec(**fields)
    if spec.classes < 1 or spec.train < 1 or spec.test < 1 or min(spec.shape) < 1 or spec.noise < 0:
        raise ConfigError(f"synthetic dataset {name!r} needs classes, train, test, shape >= 1 and noise >= 0")
    return spec


def synthetic_split(spec: SyntheticSpec, split: str) -> Split:
    """One split of the mixture: centres from ``data_seed``; samples from ``2 * data_seed + 1`` (train)
    or ``2 * data_seed + 2`` (test)."""
    n = spec.train if split == "train" else spec.test
    images, labels = make_synthetic(n, spec.shape, spec.classes, 2 * spec.data_seed + (1 if split == "train" else 2),
                                    noise=spec.noise, centers_seed=spec.data_seed)
    classes = tuple(f"class{k}" for k in range(spec.classes))
    return images.numpy(), labels.numpy(), classes, f"generated:{spec.name()}"
