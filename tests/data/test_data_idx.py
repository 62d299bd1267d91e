"""IDX (MNIST / Fashion-MNIST): exact round trip, lookup order, every corruption is a DataError naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

import hessianlab.data.registry as registry
from hessianlab.data import load_dataset, resolve_default_dataset
from hessianlab.errors import DataError

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_round_trip_values_layout_and_stats(tmp_path, datafiles, name, gz):
    written = datafiles.make_idx_folder(tmp_path / name, gz=gz, hw=(5, 7))
    for split in ("train", "test"):
        ds = load_dataset(name, split, root=tmp_path)
        images, labels = written[split]
        assert ds.images.dtype == torch.float32 and ds.labels.dtype == torch.int64
        assert ds.images.shape == (len(labels), 1, 5, 7)
        torch.testing.assert_close(ds.images, torch.from_numpy(images[:, None].astype(np.float32) / 255.0),
                                   rtol=0, atol=0)
        assert torch.equal(ds.labels, torch.from_numpy(labels.astype(np.int64)))
        assert ds.meta.split == split and ds.meta.shape == (1, 5, 7) and ds.meta.num_classes == 10
        train = written["train"][0].astype(np.float64) / 255.0
        assert ds.meta.mean == pytest.approx((train.mean(),), abs=1e-12)
        assert ds.meta.std == pytest.approx((train.std(),), abs=1e-12)
        assert str(tmp_path / name) in ds.meta.source


def test_root_itself_and_env_lookup(tmp_path, datafiles, monkeypatch):
    direct = datafiles.make_idx_folder(tmp_path / "flat", seed=1)
    ds = load_dataset("mnist", "test", root=tmp_path / "flat")
    assert torch.equal(ds.labels, torch.from_numpy(direct["test"][1].astype(np.int64)))

    env_sub = datafiles.make_idx_folder(tmp_path / "env" / "fashion-mnist", seed=2)
    monkeypatch.setenv("HESSIANLAB_DATA", str(tmp_path / "env"))
    ds = load_dataset("fashion-mnist", "train")
    assert torch.equal(ds.labels, torch.from_numpy(env_sub["train"][1].astype(np.int64)))

    env_flat = datafiles.make_idx_folder(tmp_path / "env2", seed=3)
    monkeypatch.setenv("HESSIANLAB_DATA", str(tmp_path / "env2"))
    ds = load_dataset("fashion-mnist", "train")
    assert torch.equal(ds.labels, torch.from_numpy(env_flat["train"][1].astype(np.int64)))
    # mnist is looked up only in $HESSIANLAB_DATA/mnist, not in the folder itself
    with pytest.raises(DataError, match="not found"):
        load_dataset("mnist", "train")


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "train", root=tmp_path)
    msg = str(info.value)
    assert "\n" not in msg and "--download mnist" in msg and "train-images-idx3-ubyte.gz" in msg


def test_partial_folder_names_missing_file(tmp_path, datafiles):
    datafiles.make_idx_folder(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist", "train", root=tmp_path)


def _corrupt(path: Path, how: str) -> None:
    raw = gzip.decompress(path.read_bytes())
    if how == "truncated-gzip":
        path.write_bytes(path.read_bytes()[:-20])
    elif how == "not-gzip":
        path.write_bytes(b"this is not gzip at all" * 10)
    elif how == "truncated-payload":
        path.write_bytes(gzip.compress(raw[:-100]))
    elif how == "trailing-bytes":
        path.write_bytes(gzip.compress(raw + b"\0\0\0"))
    elif how == "bad-magic":
        path.write_bytes(gzip.compress(b"\x00\x00\x08\x02" + raw[4:]))
    elif how == "empty":
        path.write_bytes(gzip.compress(b""))


@pytest.mark.parametrize("how", ["truncated-gzip", "not-gzip", "truncated-payload", "trailing-bytes",
                                 "bad-magic", "empty"])
@pytest.mark.parametrize("which", ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"])
def test_corruption_is_data_error_naming_file(tmp_path, datafiles, how, which):
    datafiles.make_idx_folder(tmp_path / "fashion-mnist")
    target = tmp_path / "fashion-mnist" / which
    _corrupt(target, how)
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", "train", root=tmp_path)
    msg = str(info.value)
    assert str(target) in msg and "\n" not in msg
    assert "--download fashion-mnist" in msg


def test_truncated_message_counts_bytes(tmp_path, datafiles):
    datafiles.make_idx_folder(tmp_path / "mnist", n_train=10, hw=(28, 28))
    target = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    _corrupt(target, "truncated-payload")
    with pytest.raises(DataError, match=r"expected 7840 bytes of images, got 7740"):
        load_dataset("mnist", "train", root=tmp_path)


def test_count_mismatch_and_label_range(tmp_path, datafiles):
    folder = tmp_path / "mnist"
    datafiles.make_idx_folder(folder, n_train=10)
    datafiles.write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(9, np.uint8), 2049)
    with pytest.raises(DataError, match="10 images but .* 9 labels"):
        load_dataset("mnist", "train", root=tmp_path)
    datafiles.write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(10, 12, np.uint8), 2049)
    with pytest.raises(DataError, match="label 12"):
        load_dataset("mnist", "train", root=tmp_path)


def test_test_split_stats_come_from_train_and_are_cached(tmp_path, datafiles, monkeypatch):
    written = datafiles.make_idx_folder(tmp_path / "mnist", seed=5)
    ds = load_dataset("mnist", "test", root=tmp_path)
    assert ds.meta.mean[0] == pytest.approx(written["train"][0].mean() / 255.0, abs=1e-12)
    calls = []
    original = registry._read
    monkeypatch.setattr(registry, "_read", lambda *a: calls.append(a[2]) or original(*a))
    load_dataset("mnist", "test", root=tmp_path)
    assert calls == ["test"]  # the training split was not read again


def test_default_dataset_fallback(tmp_path, datafiles, monkeypatch):
    name, note = resolve_default_dataset()
    assert name == "mnist1d" and "fashion-mnist" in note and "mnist1d" in note and "\n" not in note
    datafiles.make_idx_folder(tmp_path / "fashion-mnist")
    assert resolve_default_dataset(root=tmp_path) == ("fashion-mnist", None)


@pytest.mark.skipif(not (REAL_FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST not installed in /usr/share/datasets")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.setattr(registry, "SYSTEM_DIRS", (REAL_FASHION.parent,))
    assert resolve_default_dataset() == ("fashion-mnist", None)
    ds = load_dataset("fashion-mnist", "test", subset=500, seed=1)
    assert ds.images.shape == (500, 1, 28, 28)
    assert float(ds.images.min()) >= 0.0 and float(ds.images.max()) <= 1.0
    assert torch.equal(torch.bincount(ds.labels), torch.full((10,), 50))
    # published statistics of the Fashion-MNIST training split
    assert ds.meta.mean[0] == pytest.approx(0.2860, abs=1e-4)
    assert ds.meta.std[0] == pytest.approx(0.3530, abs=1e-4)
    assert ds.meta.classes[0] == "T-shirt/top" and ds.meta.classes[9] == "Ankle boot"
