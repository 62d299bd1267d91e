"""Downloads through file:// URLs: checksum verified, atomic, bad files deleted, load_dataset(download=True)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

import hessianlab.data.download as download
from hessianlab.data import RemoteFile, download_dataset, load_dataset
from hessianlab.errors import ConfigError, DataError

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _mirror(tmp_path, datafiles):
    mirror = tmp_path / "mirror"
    written = datafiles.make_idx_folder(mirror, seed=7)
    return mirror, written


def test_download_then_load(tmp_path, datafiles, monkeypatch):
    mirror, written = _mirror(tmp_path, datafiles)
    # the first URL of each file does not exist: the mirror list is tried in order
    urls = {n: ((tmp_path / "nowhere" / n).as_uri(), (mirror / n).as_uri()) for n in IDX_NAMES}
    table = {"mnist": tuple(RemoteFile(n, urls[n], md5=_md5(mirror / n)) for n in IDX_NAMES)}
    monkeypatch.setattr(download, "SOURCES", table)
    root = tmp_path / "root"
    with pytest.raises(DataError, match="--download mnist"):
        load_dataset("mnist", "train", root=root)
    ds = load_dataset("mnist", "train", root=root, download=True)
    assert torch.equal(ds.labels, torch.from_numpy(written["train"][1].astype(np.int64)))
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(IDX_NAMES)  # no temp files left
    # second load finds the files without downloading
    monkeypatch.setattr(download, "SOURCES", {})
    assert torch.equal(load_dataset("mnist", "test", root=root).labels,
                       torch.from_numpy(written["test"][1].astype(np.int64)))


def test_download_default_root_is_env(tmp_path, datafiles, monkeypatch):
    mirror, written = _mirror(tmp_path, datafiles)
    table = {"fashion-mnist": tuple(RemoteFile(n, ((mirror / n).as_uri(),),
                                               sha256=hashlib.sha256((mirror / n).read_bytes()).hexdigest())
                                    for n in IDX_NAMES)}
    monkeypatch.setattr(download, "SOURCES", table)
    monkeypatch.setenv("HESSIANLAB_DATA", str(tmp_path / "env"))
    folder = download_dataset("fashion-mnist")
    assert folder == tmp_path / "env" / "fashion-mnist"
    assert all((folder / n).read_bytes() == (mirror / n).read_bytes() for n in IDX_NAMES)
    assert torch.equal(load_dataset("fashion-mnist", "test").labels,
                       torch.from_numpy(written["test"][1].astype(np.int64)))


@pytest.mark.parametrize("algo", ["md5", "sha256"])
def test_bad_checksum_deletes_file_and_names_it(tmp_path, datafiles, algo):
    mirror, _ = _mirror(tmp_path, datafiles)
    name = IDX_NAMES[0]
    remote = RemoteFile(name, ((mirror / name).as_uri(),), **{algo: "0" * (32 if algo == "md5" else 64)})
    with pytest.raises(DataError) as info:
        download_dataset("mnist", tmp_path / "root", sources={"mnist": (remote,)})
    msg = str(info.value)
    assert name in msg and algo in msg and "\n" not in msg
    assert list((tmp_path / "root" / "mnist").iterdir()) == []  # neither the file nor a temp file remains


def test_unreachable_url_is_data_error(tmp_path):
    remote = RemoteFile("train_32x32.mat", ((tmp_path / "absent.mat").as_uri(),), md5="0" * 32)
    with pytest.raises(DataError, match=r"could not download train_32x32.mat .*put the file at"):
        download_dataset("svhn", tmp_path, sources={"svhn": (remote,)})


def test_existing_files_are_kept_and_unknown_names_rejected(tmp_path):
    folder = tmp_path / "svhn"
    folder.mkdir()
    (folder / "train_32x32.mat").write_bytes(b"kept")
    remote = RemoteFile("train_32x32.mat", ("file:///nonexistent",), md5="0" * 32)
    assert download_dataset("svhn", tmp_path, sources={"svhn": (remote,)}) == folder
    assert (folder / "train_32x32.mat").read_bytes() == b"kept"
    with pytest.raises(ConfigError, match="cannot be downloaded"):
        download_dataset("digits", tmp_path)


def test_cifar_download_from_generated_archive(tmp_path, datafiles, monkeypatch):
    members, arrays = datafiles.cifar_members("cifar10", n_per_batch=2)
    archive = datafiles.write_tar(tmp_path / "mirror" / "cifar-10-python.tar.gz", "cifar-10-batches-py", members)
    monkeypatch.setitem(download.SOURCES, "cifar10",
                        (RemoteFile(archive.name, (archive.as_uri(),), md5=_md5(archive)),))
    ds = load_dataset("cifar10", "test", root=tmp_path / "root", download=True)
    assert torch.equal(ds.labels, torch.from_numpy(arrays["test"][1]))
    assert (tmp_path / "root" / "cifar10" / archive.name).read_bytes() == archive.read_bytes()


def test_published_checksum_table_is_complete():
    for name in ("mnist", "fashion-mnist", "cifar10", "cifar100", "svhn"):
        for remote in download.SOURCES[name]:
            assert remote.urls and remote.md5 is not None and len(remote.md5) == 32
