"""SVHN .mat files: exact round trip (HWCN -> NCHW, label 10 -> 0) and DataErrors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch

from hessianlab.data import load_dataset
from hessianlab.errors import DataError


def test_round_trip(tmp_path, datafiles):
    x_train, y_train = datafiles.write_svhn(tmp_path / "svhn" / "train_32x32.mat", 23, seed=1)
    x_test, y_test = datafiles.write_svhn(tmp_path / "svhn" / "test_32x32.mat", 11, seed=2)
    ds = load_dataset("svhn", "test", root=tmp_path)
    assert ds.images.shape == (11, 3, 32, 32)
    # sample i, channel c, row h, column w is X[h, w, c, i]
    assert float(ds.images[4, 2, 7, 9]) == float(np.float32(x_test[7, 9, 2, 4]) / np.float32(255.0))
    expected = torch.from_numpy(x_test.transpose(3, 2, 0, 1).astype(np.float32) / 255.0)
    torch.testing.assert_close(ds.images, expected, rtol=0, atol=0)
    labels = y_test.reshape(-1).astype(np.int64)
    assert 10 in labels
    assert torch.equal(ds.labels, torch.from_numpy(np.where(labels == 10, 0, labels)))
    assert ds.meta.mean == pytest.approx(tuple((x_train / 255.0).mean(axis=(0, 1, 3))), abs=1e-12)


@pytest.mark.parametrize("case", ["truncated", "garbage", "missing-y", "count-mismatch", "bad-shape"])
def test_bad_file_is_data_error_naming_file(tmp_path, datafiles, case):
    datafiles.write_svhn(tmp_path / "svhn" / "test_32x32.mat", 5)
    path = tmp_path / "svhn" / "train_32x32.mat"
    x, y = datafiles.write_svhn(path, 8)
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    elif case == "garbage":
        path.write_bytes(b"\x00" * 50)
    elif case == "missing-y":
        scipy.io.savemat(path, {"X": x})
    elif case == "count-mismatch":
        scipy.io.savemat(path, {"X": x, "y": y[:-1]})
    elif case == "bad-shape":
        scipy.io.savemat(path, {"X": x[:16], "y": y})
    with pytest.raises(DataError) as info:
        load_dataset("svhn", "train", root=tmp_path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg and "--download svhn" in msg


def test_missing_test_file_is_named(tmp_path, datafiles):
    datafiles.write_svhn(tmp_path / "svhn" / "train_32x32.mat", 4)
    with pytest.raises(DataError, match="test_32x32.mat"):
        load_dataset("svhn", "train", root=tmp_path)
