"""Image-folder datasets read with Pillow: one sub-folder per class (the TinyImageNet / ImageNet layout).

Layout of ``root``::

    train/<class>/**/*.JPEG        every image below a class folder, sub-folders included
    val/<class>/**/*.JPEG          the test split: val/ if present, else test/ (TinyImageNet's and ImageNet's
                                   test/ folders are unlabelled; val/ is their labelled held-out set)
    val/val_annotations.txt        or TinyImageNet's official flat val/: images in val/images/, one line
                                   "<file>\\t<class>\\t..." per image

Classes are the sorted names of the folders in ``train/`` (label = index), for both splits. Images are
converted to RGB, the shorter side resized to ``size`` (bilinear, antialiased) and the centre cropped to
``size x size``; files are read in sorted path order, so the result is deterministic. Image files are
recognised by suffix (:data:`IMAGE_SUFFIXES`, any case); other files (e.g. TinyImageNet's box lists) are skipped.

Memory: everything is held in memory, ``N · 3 · size²`` bytes while reading, then 4 bytes per value as
float32 tensors: TinyImageNet's 100,000 training images at 64 px are 1.2 GB as uint8 and 4.9 GB as float32.
ImageNet at 224 px (1.28M images, 770 GB as float32) does not fit; use a subset of classes or a smaller size.

Registry names: ``imagefolder:[size=N,]PATH`` (``size`` default :data:`DEFAULT_SIZE`) for any such folder,
and ``tinyimagenet`` (64 px, the official ``tiny-imagenet-200`` folder, see :func:`find_tinyimagenet`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from hessianlab.data.download import describe
from hessianlab.errors import ConfigError, DataError

__all__ = ["DEFAULT_SIZE", "IMAGE_SUFFIXES", "TINYIMAGENET_SIZE", "ImageFolderSpec", "find_tinyimagenet", "load_image",
           "parse_imagefolder_name", "read_imagefolder_split"]

DEFAULT_SIZE = 64
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp")
ANNOTATIONS = "val_annotations.txt"
TINYIMAGENET_FOLDER = "tiny-imagenet-200"
TINYIMAGENET_SIZE = 64  # native side of TinyImageNet images, pixels
PREFIX = "imagefolder"


@dataclass(frozen=True)
class ImageFolderSpec:
    """An image folder and the side ``size`` (pixels) its images are brought to."""

    root: Path
    size: int = DEFAULT_SIZE

    def name(self) -> str:
        """Canonical registry name, ``imagefolder:size=N,/absolute/path``."""
        return f"{PREFIX}:size={self.size},{self.root}"


def parse_imagefolder_name(name: str) -> ImageFolderSpec:
    """Parse ``imagefolder:[size=N,]PATH``; the path is made absolute (``~`` expanded)."""
    head, sep, rest = name.strip().partition(":")
    if head.lower() != PREFIX or not sep or not rest:
        raise ConfigError(f"dataset {name!r}: write imagefolder:PATH or imagefolder:size=N,PATH")
    size = DEFAULT_SIZE
    if rest.startswith("size="):
        value, comma, rest = rest[len("size="):].partition(",")
        if not (value.isdigit() and int(value) > 0 and comma and rest):
            raise ConfigError(f"dataset {name!r}: size must be a positive integer followed by ',PATH', "
                              f"e.g. imagefolder:size=32,/data/images")
        size = int(value)
    return ImageFolderSpec(Path(rest).expanduser().resolve(), size)


def load_image(path: Path, size: int) -> np.ndarray:
    """One image as ``(3, size, size)`` uint8: RGB, shorter side resized to ``size``, centre crop.

    Raises:
        DataError: the file cannot be decoded (corrupt, truncated, not an image).
    """
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale still >= size (faster)
            rgb = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read image ({describe(exc)}); delete or replace the file") from None
    width, height = rgb.size
    if min(width, height) != size:
        scale = size / min(width, height)
        width, height = max(size, round(width * scale)), max(size, round(height * scale))
        rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    left, top = (width - size) // 2, (height - size) // 2
    return np.asarray(rgb.crop((left, top, left + size, top + size)), dtype=np.uint8).transpose(2, 0, 1)


def _images_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _class_folders(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _classes(root: Path) -> tuple[str, ...]:
    train = root / "train"
    if not train.is_dir():
        raise DataError(f"{root}: no train/ folder; an image folder holds train/<class>/ and val/<class>/ "
                        f"(or test/<class>/) sub-folders of images")
    classes = tuple(p.name for p in _class_folders(train))
    if not classes:
        raise DataError(f"{train}: no class sub-folders; put each class's images in train/<class>/")
    return classes


def _annotated(split_dir: Path, index: dict[str, int]) -> list[tuple[Path, int]]:
    """Samples of a flat folder listed in ``val_annotations.txt`` (TinyImageNet's official val/)."""
    folder = split_dir / "images" if (split_dir / "images").is_dir() else split_dir
    samples = []
    lines = (split_dir / ANNOTATIONS).read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if not line.strip():
            continue
        if len(fields) < 2 or fields[1] not in index:
            raise DataError(f"{split_dir / ANNOTATIONS}:{number}: expected '<file>\\t<class of train/>', got "
                            f"{line[:80]!r}; fix or restore the file")
        if not (folder / fields[0]).is_file():
            raise DataError(f"{folder / fields[0]}: listed in {ANNOTATIONS} but missing; restore it")
        samples.append((folder / fields[0], index[fields[1]]))
    return sorted(samples)


def _samples(split_dir: Path, classes: tuple[str, ...]) -> list[tuple[Path, int]]:
    index = {name: label for label, name in enumerate(classes)}
    if (split_dir / ANNOTATIONS).is_file():
        return _annotated(split_dir, index)
    samples = []
    for folder in _class_folders(split_dir):
        if folder.name not in index:
            raise DataError(f"{folder}: class {folder.name!r} has no folder in train/; remove it or add it to train/")
        files = _images_below(folder)
        if not files:
            raise DataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder")
        samples += [(f, index[folder.name]) for f in files]
    if not samples:
        raise DataError(f"{split_dir}: no class sub-folders with images; put them in {split_dir}/<class>/")
    return samples


def read_imagefolder_split(root: Path, split: str, size: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], str]:
    """Read one split of the image folder ``root``.

    Args:
        root: folder with ``train/`` and ``val/`` or ``test/`` (see the module docstring).
        split: ``"train"`` or ``"test"``.
        size: side of the square output images, pixels.

    Returns:
        ``(images (N, 3, size, size) uint8, labels (N,) int64, classes, folder read)``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found; check the path in the dataset name")
    classes = _classes(root)
    if split == "train":
        split_dir = root / "train"
    else:
        split_dir = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
        if split_dir is None:
            raise DataError(f"{root}: no val/ or test/ folder for the test split; add val/<class>/ images")
    samples = _samples(split_dir, classes)
    images = np.empty((len(samples), 3, size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(samples):
        images[i] = load_image(path, size)
    labels = np.array([label for _, label in samples], dtype=np.int64)
    return images, labels, classes, str(split_dir)


def find_tinyimagenet(folder: Path) -> Path | None:
    """The TinyImageNet folder at ``folder``, in it (``tiny-imagenet-200/``) or, when ``folder`` is a
    registry folder ``<dir>/tinyimagenet``, beside it (``<dir>/tiny-imagenet-200``); None if absent.

    A TinyImageNet folder holds ``wnids.txt``, ``train/`` and ``val/``.
    """
    beside = (folder.parent / TINYIMAGENET_FOLDER,) if folder.name == "tinyimagenet" else ()
    for candidate in (folder, folder / TINYIMAGENET_FOLDER, *beside):
        if all((candidate / part).exists() for part in ("wnids.txt", "train", "val")):
            return candidate
    return None
