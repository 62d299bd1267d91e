"""The dataset registry: :func:`load_dataset`, :func:`available_datasets`, :func:`resolve_default_dataset`.

Where files are looked up, in order (the first folder holding *all* files of a dataset wins):

1. ``<root>/<name>`` then ``<root>`` itself, when ``root=`` is given;
2. ``$HESSIANLAB_DATA/<name>`` (and ``$HESSIANLAB_DATA`` itself for ``fashion-mnist``);
3. ``~/.cache/hessianlab/<name>`` (where downloads go without ``root`` and ``$HESSIANLAB_DATA``);
4. ``<d>/<name>`` for ``d`` in :data:`SYSTEM_DIRS` (``/usr/share/datasets``, Debian's
   ``dataset-fashion-mnist`` package).

File names: IDX ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-...`` (mnist,
fashion-mnist); ``cifar-10-python.tar.gz`` or ``cifar-10-batches-py/`` (cifar10), ``cifar-100-python.tar.gz``
or ``cifar-100-python/`` (cifar100); ``train_32x32.mat``, ``test_32x32.mat`` (svhn); the extracted
``tiny-imagenet-200/`` folder, in or beside ``<dir>/tinyimagenet`` (tinyimagenet). ``digits``,
``breast-cancer``, ``mnist1d`` and ``synthetic`` are generated (see :mod:`hessianlab.data.generated`).
``imagefolder:[size=N,]PATH`` reads any folder of class sub-folders (see :mod:`hessianlab.data.imagefolder`).

``DatasetMeta.mean``/``std`` are per channel over the full training split; they are computed once per
(dataset, source) and process and cached, so loading the test split reads the training split at most once.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import torch

from hessianlab.data import cifar, generated, idx, imagefolder, svhn
from hessianlab.data.download import DATA_ENV, SOURCES, default_root, download_dataset
from hessianlab.data.subset import stratified_subset
from hessianlab.data.types import Dataset, DatasetInfo, DatasetMeta, channel_stats
from hessianlab.errors import ConfigError, DataError

__all__ = ["DATASET_NAMES", "DEFAULT_DATASET", "FALLBACK_DATASET", "SPLITS", "SYSTEM_DIRS", "available_datasets",
           "candidate_dirs", "load_dataset", "locate", "resolve_default_dataset"]

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "fashion-mnist"
FALLBACK_DATASET = "mnist1d"
SPLITS = ("train", "test")
#: system-wide folders searched last, as ``<dir>/<name>``; a module attribute so tests can replace it.
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)
FILE_DATASETS = ("fashion-mnist", "mnist", "cifar10", "cifar100", "svhn", "tinyimagenet")
GENERATED_DATASETS = ("digits", "breast-cancer", "mnist1d", "synthetic")
PATH_DATASETS = ("imagefolder",)  # the name carries the path: imagefolder:[size=N,]PATH
DATASET_NAMES = FILE_DATASETS + GENERATED_DATASETS + PATH_DATASETS

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
DIGITS = tuple(str(d) for d in range(10))
_ALIASES = {"fashionmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "cifar-10": "cifar10",
            "cifar-100": "cifar100", "mnist-1d": "mnist1d", "mnist_1d": "mnist1d", "breast_cancer": "breast-cancer"}
_FILES_HINT = {
    "fashion-mnist": "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
                     "t10k-labels-idx1-ubyte.gz",
    "mnist": "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
             "t10k-labels-idx1-ubyte.gz",
    "cifar10": "cifar-10-python.tar.gz (or its folder cifar-10-batches-py)",
    "cifar100": "cifar-100-python.tar.gz (or its folder cifar-100-python)",
    "svhn": "train_32x32.mat, test_32x32.mat",
    "tinyimagenet": "the folder tiny-imagenet-200 extracted from http://cs231n.stanford.edu/tiny-imagenet-200.zip",
}
_STATS: dict[tuple, tuple[tuple[float, ...], tuple[float, ...]]] = {}


def _canonical(name: str) -> str:
    if name.strip().lower().startswith(imagefolder.PREFIX):
        return imagefolder.parse_imagefolder_name(name).name()
    base = name.strip()
    if base.lower().startswith("synthetic"):
        return generated.parse_synthetic_name(base).name()
    base = base.lower()
    base = _ALIASES.get(base, base)
    if base not in DATASET_NAMES:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    return base


def candidate_dirs(name: str, root: str | Path | None = None) -> list[Path]:
    """Folders searched for ``name``, in order (see the module docstring)."""
    out: list[Path] = []
    if root is not None:
        out += [Path(root).expanduser() / name, Path(root).expanduser()]
    env = os.environ.get(DATA_ENV)
    if env:
        out.append(Path(env).expanduser() / name)
        if name == DEFAULT_DATASET:
            out.append(Path(env).expanduser())
    out.append(Path.home() / ".cache" / "hessianlab" / name)
    out += [d / name for d in SYSTEM_DIRS]
    unique: list[Path] = []
    for d in out:
        if d not in unique:
            unique.append(d)
    return unique


def _source_in(folder: Path, name: str) -> tuple[Path | None, list[str]]:
    """(source if complete, names of missing files if the folder holds only part of the dataset)."""
    if name == "tinyimagenet":
        return imagefolder.find_tinyimagenet(folder), []
    if not folder.is_dir():
        return None, []
    if name in ("mnist", "fashion-mnist"):
        missing = idx.missing_idx_files(folder)
        return (folder, []) if not missing else (None, missing if len(missing) < 4 else [])
    if name == "svhn":
        missing = svhn.missing_svhn_files(folder)
        return (folder, []) if not missing else (None, missing if len(missing) < 2 else [])
    return cifar.find_cifar_source(folder, name), []


def _locate(name: str, root: str | Path | None) -> tuple[Path | None, str]:
    """(source, note): note explains where it was looked for / what is incomplete when not found."""
    partial = []
    dirs = candidate_dirs(name, root)
    for folder in dirs:
        source, missing = _source_in(folder, name)
        if source is not None:
            return source, ""
        if missing:
            partial.append(f"{folder} lacks {', '.join(missing)}")
    target = (Path(root).expanduser() if root is not None else default_root()) / name
    fix = (f"run `hessianlab datasets --download {name}` or put {_FILES_HINT[name]} in {target}" if name in SOURCES
           else f"put {_FILES_HINT[name]} in {target}")
    if partial:
        return None, f"{name}: incomplete: {'; '.join(partial)}; {fix}"
    return None, f"{name}: not found in {', '.join(map(str, dirs))}; {fix}"


def locate(name: str, root: str | Path | None = None) -> Path | None:
    """The file/folder :func:`load_dataset` would read ``name`` from, or None (file datasets only)."""
    return _locate(_canonical(name), root)[0]


def _read(name: str, source: Path, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    if name in ("mnist", "fashion-mnist"):
        images, labels, where = idx.read_idx_split(source, split, dataset=name)
        return images, labels, FASHION_CLASSES if name == "fashion-mnist" else DIGITS, where
    if name == "svhn":
        images, labels, where = svhn.read_svhn_split(source, split, dataset=name)
        return images, labels, DIGITS, where
    if name == "tinyimagenet":
        return imagefolder.read_imagefolder_split(source, split, imagefolder.TINYIMAGENET_SIZE)
    if name.startswith(imagefolder.PREFIX):
        return imagefolder.read_imagefolder_split(source, split, imagefolder.parse_imagefolder_name(name).size)
    images, labels, classes = cifar.read_cifar_split(source, split, dataset=name)
    return images, labels, classes, str(source)


def _generate(name: str, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    if name == "digits":
        return generated.digits_split(split)
    if name == "breast-cancer":
        return generated.breast_cancer_split(split)
    if name == "mnist1d":
        return generated.mnist1d_split(split)
    return generated.synthetic_split(generated.parse_synthetic_name(name), split)


def _stats_key(name: str, source: Path | None) -> tuple:
    """Cache key of the training-split statistics: the source and the size/mtime of its files."""
    if source is None:
        return (name,)
    files = sorted(p for p in source.iterdir() if p.is_file()) if source.is_dir() else [source]
    return (name, str(source.resolve()), tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))


def load_dataset(name: str, split: str, *, subset: int | None = None, seed: int = 0,
                 root: str | Path | None = None, download: bool = False) -> Dataset:
    """Load one split of a registered dataset into memory.

    Args:
        name: one of :data:`DATASET_NAMES` (``synthetic`` takes options: ``"synthetic:shape=3x16x16,classes=4"``).
        split: ``"train"`` or ``"test"``.
        subset: if given, a stratified subset of this many samples (:func:`stratified_subset`, seeded by ``seed``).
        seed: seed of the subset; it does not change the data itself.
        root: folder searched first (``<root>/<name>``, then ``<root>``) and the download target.
        download: fetch missing files of mnist / fashion-mnist / cifar10 / cifar100 / svhn into
            ``<root or default_root()>/<name>`` (checksums verified) instead of failing.

    Returns:
        a :class:`Dataset`; images ``(N, C, H, W)`` float32 in [0, 1], labels ``(N,)`` int64.

    Raises:
        ConfigError: unknown name/split, impossible subset.
        DataError: files missing (the message says how to get them), truncated, corrupt or inconsistent.
    """
    name = _canonical(name)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} for {name}; use 'train' or 'test'")
    source: Path | None = None
    if name in FILE_DATASETS:
        source, note = _locate(name, root)
        if source is None:
            if not download:
                raise DataError(note)
            download_dataset(name, root)
            source, note = _locate(name, root)
            if source is None:  # pragma: no cover - the download wrote every file
                raise DataError(note)
        raw = _read(name, source, split)
    elif name.startswith(imagefolder.PREFIX):
        source = imagefolder.parse_imagefolder_name(name).root
        raw = _read(name, source, split)
    else:
        raw = _generate(name, split)
    images_np, labels_np, classes, where = raw
    key = _stats_key(name, source)
    if key not in _STATS:
        train_images = images_np if split == "train" else (
            _read(name, source, "train") if source is not None else _generate(name, "train"))[0]
        _STATS[key] = channel_stats(train_images)
        logger.debug("%s: training-split channel stats %s", name, _STATS[key])
    mean, std = _STATS[key]
    images = torch.from_numpy(np.ascontiguousarray(images_np))
    images = images.to(torch.float32).div_(255.0) if images_np.dtype == np.uint8 else images.to(torch.float32)
    labels = torch.from_numpy(np.ascontiguousarray(labels_np)).to(torch.int64)
    if subset is not None:
        keep = stratified_subset(labels, subset, seed)
        images, labels = images[keep], labels[keep]
    c, h, w = images.shape[1:]
    meta = DatasetMeta(name=name, split=split, classes=tuple(classes), shape=(int(c), int(h), int(w)),
                       mean=mean, std=std, source=where)
    return Dataset(images=images, labels=labels, meta=meta)


def available_datasets(root: str | Path | None = None) -> list[DatasetInfo]:
    """One :class:`DatasetInfo` per registered dataset (what ``hessianlab datasets`` prints)."""
    out = []
    for name in FILE_DATASETS:
        source, note = _locate(name, root)
        if source is not None:
            kind = "extracted folder" if source.is_dir() and name.startswith("cifar") else (
                "tarball" if name.startswith("cifar") else "official files")
            default = " (default dataset)" if name == DEFAULT_DATASET else ""
            out.append(DatasetInfo(name, True, str(source), f"{kind}{default}"))
        else:
            out.append(DatasetInfo(name, False, "", note))
    out.append(DatasetInfo("digits", True, "generated:sklearn.datasets.load_digits",
                           "scikit-learn's bundled 8x8 digits; fixed stratified 80/20 split (1438/359)"))
    out.append(DatasetInfo("breast-cancer", True, "generated:sklearn.datasets.load_breast_cancer",
                           "scikit-learn's bundled 30-feature binary set (convex checks); stratified 80/20 (455/114)"))
    has_mnist1d = importlib.util.find_spec("mnist1d") is not None
    out.append(DatasetInfo("mnist1d", has_mnist1d, "generated:mnist1d" if has_mnist1d else "",
                           "generated by the mnist1d package (4000 train / 1000 test), no download"
                           if has_mnist1d else "install the mnist1d package: pip install mnist1d"))
    out.append(DatasetInfo("imagefolder", True, "imagefolder:[size=N,]PATH",
                           "any folder with train/<class>/ and val/ (or test/) <class>/ images, read with Pillow, "
                           f"resized and centre-cropped to N px (default {imagefolder.DEFAULT_SIZE})"))
    out.append(DatasetInfo("synthetic", True, "generated:synthetic",
                           "Gaussian mixture; options synthetic:shape=CxHxW,classes=K,train=N,test=N,noise=S,"
                           "data_seed=D"))
    return out


def resolve_default_dataset(root: str | Path | None = None) -> tuple[str, str | None]:
    """``("fashion-mnist", None)`` when its files are found, else ``("mnist1d", note)``; the caller logs the note."""
    source, note = _locate(DEFAULT_DATASET, root)
    if source is not None:
        return DEFAULT_DATASET, None
    return FALLBACK_DATASET, f"{note}; falling back to {FALLBACK_DATASET} for now"
