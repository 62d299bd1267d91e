"""CIFAR-10/100 python pickles: exact round trip from tarball and folder, safe unpickling, corruption errors."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from hessianlab.data import load_dataset
from hessianlab.data.cifar import safe_loads
from hessianlab.errors import DataError

FOLDER = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
ARCHIVE = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}


def _check(ds, images, labels):
    assert ds.images.shape == (len(labels), 3, 32, 32) and ds.images.dtype == torch.float32
    torch.testing.assert_close(ds.images, torch.from_numpy(images.astype(np.float32) / 255.0), rtol=0, atol=0)
    assert torch.equal(ds.labels, torch.from_numpy(labels))


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_tarball_round_trip(tmp_path, datafiles, variant):
    members, arrays = datafiles.cifar_members(variant)
    datafiles.write_tar(tmp_path / variant / ARCHIVE[variant], FOLDER[variant], members)
    train = load_dataset(variant, "train", root=tmp_path)
    test = load_dataset(variant, "test", root=tmp_path)
    _check(train, *arrays["train"])
    _check(test, *arrays["test"])
    assert train.meta.num_classes == (10 if variant == "cifar10" else 100)
    assert train.meta.classes[3] == ("c3" if variant == "cifar10" else "f3")
    x = arrays["train"][0].astype(np.float64) / 255.0
    assert test.meta.mean == pytest.approx(tuple(x.mean(axis=(0, 2, 3))), abs=1e-12)
    assert test.meta.std == pytest.approx(tuple(x.std(axis=(0, 2, 3))), abs=1e-12)


def test_extracted_folder_round_trip(tmp_path, datafiles):
    members, arrays = datafiles.cifar_members("cifar10", seed=3)
    folder = tmp_path / "cifar10" / FOLDER["cifar10"]
    folder.mkdir(parents=True)
    for name, payload in members.items():
        (folder / name).write_bytes(payload)
    _check(load_dataset("cifar10", "train", root=tmp_path), *arrays["train"])
    # root may also point at the extracted folder itself
    _check(load_dataset("cifar10", "test", root=folder), *arrays["test"])


def test_cifar100_uses_fine_labels(tmp_path, datafiles):
    members, arrays = datafiles.cifar_members("cifar100")
    datafiles.write_tar(tmp_path / "cifar100" / ARCHIVE["cifar100"], FOLDER["cifar100"], members)
    ds = load_dataset("cifar100", "train", root=tmp_path)
    assert torch.equal(ds.labels, torch.from_numpy(arrays["train"][1]))
    assert int(ds.labels.max()) >= 20  # coarse labels would all be < 20


def test_safe_unpickler_rejects_foreign_globals():
    evil = pickle.dumps(os.getcwd, protocol=4)
    with pytest.raises(pickle.UnpicklingError, match="posix.getcwd|os.getcwd"):
        safe_loads(evil)
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert np.array_equal(safe_loads(pickle.dumps({b"data": arr}, protocol=4))[b"data"], arr)


def _folder(tmp_path, members):
    folder = tmp_path / "cifar10" / FOLDER["cifar10"]
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in members.items():
        (folder / name).write_bytes(payload)
    return folder


@pytest.mark.parametrize("case", ["missing-key", "evil-global", "count-mismatch", "garbage", "bad-shape",
                                  "label-range", "meta-missing-names"])
def test_bad_batch_is_data_error_naming_file(tmp_path, datafiles, case):
    members, _ = datafiles.cifar_members("cifar10")
    batch = pickle.loads(members["data_batch_2"])
    target = "data_batch_2"
    if case == "missing-key":
        del batch[b"labels"]
    elif case == "evil-global":
        batch[b"filenames"] = os.getcwd
    elif case == "count-mismatch":
        batch[b"labels"] = batch[b"labels"][:-1]
    elif case == "bad-shape":
        batch[b"data"] = batch[b"data"][:, :100]
    elif case == "label-range":
        batch[b"labels"][0] = 10
    if case == "meta-missing-names":
        target = "batches.meta"
        members[target] = pickle.dumps({b"num_cases_per_batch": 6}, protocol=4)
    else:
        members[target] = b"\x80\x02garbage" if case == "garbage" else pickle.dumps(batch, protocol=4)
    _folder(tmp_path, members)
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", "train", root=tmp_path)
    msg = str(info.value)
    assert target in msg and "\n" not in msg and "--download cifar10" in msg


@pytest.mark.parametrize("case", ["truncated", "missing-member", "not-tar"])
def test_bad_tarball_is_data_error_naming_file(tmp_path, datafiles, case):
    members, _ = datafiles.cifar_members("cifar10")
    if case == "missing-member":
        del members["test_batch"]
    path = datafiles.write_tar(tmp_path / "cifar10" / ARCHIVE["cifar10"], FOLDER["cifar10"], members)
    if case == "truncated":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif case == "not-tar":
        path.write_bytes(b"not a tarball" * 100)
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", "test", root=tmp_path)
    msg = str(info.value)
    assert ARCHIVE["cifar10"] in msg and "\n" not in msg
    if case == "missing-member":
        assert "test_batch" in msg
