"""Image folders read with Pillow: labels, pixels, resizing, the TinyImageNet layout, and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hessianlab.data import load_dataset
from hessianlab.data.imagefolder import load_image
from hessianlab.errors import ConfigError, DataError

RED, BLUE, GREEN, WHITE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255)


def _save(path: Path, pixels: np.ndarray) -> Path:
    """Write ``pixels`` (H, W, 3) or (H, W) uint8; the suffix picks the format (PNG is lossless)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    Image.fromarray(pixels).save(path, **options)
    return path


def _solid(colour: tuple[int, int, int], h: int = 8, w: int = 8) -> np.ndarray:
    return np.broadcast_to(np.array(colour, dtype=np.uint8), (h, w, 3)).copy()


@pytest.fixture
def folder(tmp_path):
    """train/{cat, ant, bee}/ with random 8x8 PNGs (bee's in a sub-folder), val/{ant, cat}/; returns the arrays."""
    rng = np.random.default_rng(0)
    written: dict[str, list[tuple[str, np.ndarray]]] = {"train": [], "val": []}
    layout = {"train": {"cat": ["b.png", "a.png"], "ant": ["z.png"], "bee": ["sub/x.png", "y.png"]},
              "val": {"ant": ["q.png"], "cat": ["p.png"]}}
    for split, classes in layout.items():
        for cls, names in classes.items():
            for name in names:
                pixels = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
                _save(tmp_path / split / cls / name, pixels)
                written[split].append((f"{cls}/{name}", pixels))
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    return tmp_path, written


def test_labels_pixels_sorting_and_stats(folder):
    root, written = folder
    train = load_dataset(f"imagefolder:size=8,{root}", "train")
    assert train.meta.classes == ("ant", "bee", "cat")  # sorted folder names
    order = sorted(written["train"])  # by class, then path inside the class
    expected = np.stack([p for _, p in order]).transpose(0, 3, 1, 2)
    assert train.images.shape == (5, 3, 8, 8) and train.images.dtype == torch.float32
    assert torch.equal(train.images, torch.from_numpy(expected).float() / 255)  # PNG is lossless, no resize
    assert train.labels.tolist() == [0, 1, 1, 2, 2]
    pixels = expected.astype(np.float64) / 255
    assert train.meta.mean == pytest.approx(tuple(pixels.mean(axis=(0, 2, 3))), abs=1e-12)
    assert train.meta.std == pytest.approx(tuple(pixels.std(axis=(0, 2, 3))), abs=1e-12)
    test = load_dataset(f"imagefolder:size=8,{root}", "test")
    assert test.labels.tolist() == [0, 2] and test.meta.source == str(root / "val")
    assert test.meta.mean == train.meta.mean  # statistics of the training split
    assert test.meta.name == f"imagefolder:size=8,{root.resolve()}"
    assert torch.equal(load_dataset(test.meta.name, "test").images, test.images)  # the name reloads the data


def test_test_folder_when_no_val_and_default_size(folder):
    root, _ = folder
    (root / "val").rename(root / "test")
    test = load_dataset(f"imagefolder:{root}", "test")
    assert test.images.shape == (2, 3, 64, 64)  # default size: 8 px upscaled to 64
    assert test.meta.source == str(root / "test")


def test_resize_and_centre_crop(tmp_path):
    quadrants = _solid(RED, 16, 16)
    quadrants[8:, 8:] = BLUE
    out = load_image(_save(tmp_path / "q.png", quadrants), 8)
    assert out.shape == (3, 8, 8) and out.dtype == np.uint8
    # bilinear 2x reduction reads 4 input pixels per output pixel: the 3 pixels nearest a corner are pure
    assert (out[:, :3, :3].transpose(1, 2, 0) == RED).all() and (out[:, 5:, 5:].transpose(1, 2, 0) == BLUE).all()
    wide = _solid(RED, 16, 32)  # (H, W) = (16, 32) -> shorter side 8: 8 x 16 -> centre columns 4..11
    wide[:, 16:] = BLUE
    out = load_image(_save(tmp_path / "w.png", wide), 8).transpose(1, 2, 0)
    assert (out[:, :3] == RED).all() and (out[:, 5:] == BLUE).all()
    tall = np.zeros((12, 8, 3), dtype=np.uint8)  # no resize needed: crop rows 2..9 exactly
    tall[np.arange(12)] = np.arange(12, dtype=np.uint8)[:, None, None] * 20
    assert np.array_equal(load_image(_save(tmp_path / "t.png", tall), 8), tall[2:10].transpose(2, 0, 1))


def test_grayscale_and_jpeg_become_rgb(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    out = load_image(_save(tmp_path / "g.png", gray), 8)
    assert all(np.array_equal(out[c], gray) for c in range(3))
    cols, rows = np.meshgrid(np.arange(8) * 16, np.arange(8) * 16)
    smooth = np.stack([cols, rows, np.full((8, 8), 128)], -1).astype(np.uint8)
    jpeg = load_image(_save(tmp_path / "s.jpg", smooth), 8).transpose(1, 2, 0).astype(int)
    assert np.abs(jpeg - smooth).max() <= 12  # JPEG quality 95 of a smooth ramp


def test_tinyimagenet_official_layout(tmp_path):
    base = tmp_path / "tiny-imagenet-200"
    colours = {"n02": BLUE, "n01": RED, "n03": GREEN}
    (base).mkdir()
    (base / "wnids.txt").write_text("\n".join(colours) + "\n")
    for wnid, colour in colours.items():
        for i in range(2):
            _save(base / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", _solid(colour))
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text(f"{wnid}_0.JPEG\t0\t0\t7\t7\n")
    annotations = [("val_1.JPEG", "n03"), ("val_0.JPEG", "n01"), ("val_2.JPEG", "n01")]
    for name, wnid in annotations:
        _save(base / "val" / "images" / name, _solid(colours[wnid]))
    (base / "val" / "val_annotations.txt").write_text("".join(f"{n}\t{w}\t0\t0\t7\t7\n" for n, w in annotations))
    train = load_dataset("tinyimagenet", "train", root=tmp_path)
    assert train.meta.classes == ("n01", "n02", "n03") and train.images.shape == (6, 3, 64, 64)
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2]
    test = load_dataset("tinyimagenet", "test", root=tmp_path)
    assert test.labels.tolist() == [0, 2, 0]  # val_0 (n01), val_1 (n03), val_2 (n01): sorted by file name
    centre = (test.images[:, :, 32, 32] * 255).round().to(torch.int64).tolist()
    assert all(max(abs(a - b) for a, b in zip(px, colours[("n01", "n02", "n03")[y]])) <= 3
               for px, y in zip(centre, test.labels.tolist()))  # each image's colour is its class's
    # found beside <dir>/tinyimagenet (e.g. $HESSIANLAB_DATA, which --data-dir sets), not beside other folders
    assert load_dataset("tinyimagenet", "test", root=tmp_path / "tinyimagenet").labels.tolist() == [0, 2, 0]
    with pytest.raises(DataError, match="tiny-imagenet-200") as info:
        load_dataset("tinyimagenet", "train", root=tmp_path / "elsewhere")
    assert "--download" not in str(info.value)


def test_errors_name_the_file_and_the_fix(folder, tmp_path):
    root, _ = folder
    name = f"imagefolder:size=8,{root}"
    bad = root / "train" / "ant" / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"broken\.png.*delete or replace"):
        load_dataset(name, "train")
    bad.unlink()
    data = (_save(root / "x.jpg", _solid(WHITE, 32, 32))).read_bytes()
    (root / "train" / "ant" / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.jpg"):
        load_dataset(name, "train")
    (root / "train" / "ant" / "cut.jpg").unlink()
    (root / "train" / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no images"):
        load_dataset(name, "train")
    (root / "train" / "empty").rmdir()
    _save(root / "val" / "dog" / "d.png", _solid(WHITE))
    with pytest.raises(DataError, match="'dog' has no folder in train/"):
        load_dataset(name, "test")
    with pytest.raises(DataError, match="no train/ folder"):
        load_dataset(f"imagefolder:{root / 'val'}", "train")
    with pytest.raises(DataError, match="not found"):
        load_dataset(f"imagefolder:{tmp_path / 'nowhere'}", "train")
    for bad_name in ("imagefolder", "imagefolder:size=0,/x", "imagefolder:size=8"):
        with pytest.raises(ConfigError, match="imagefolder"):
            load_dataset(bad_name, "train")
