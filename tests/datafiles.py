"""Writers of tiny files in the official dataset formats (IDX, CIFAR python tarballs, SVHN .mat), shared by the
data tests (through the ``datafiles`` fixture) and the end-to-end test of the paper presets."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, magic: int) -> Path:
    """Write ``array`` (uint8) as an IDX file (gzip'ed when ``path`` ends in .gz)."""
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)
    return path


def make_idx_folder(folder: Path, *, n_train: int = 30, n_test: int = 12, hw: tuple[int, int] = (28, 28),
                    gz: bool = True, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write the four IDX files of an MNIST-like dataset; return ``{split: (images (N,H,W), labels (N,))}``."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, *hw), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        ext = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images, 2051)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels, 2049)
        out[split] = (images, labels)
    return out


def _pickled(obj) -> bytes:
    return pickle.dumps(obj, protocol=4)


def cifar_members(variant: str, *, n_per_batch: int = 6, seed: int = 0) -> tuple[dict[str, bytes], dict]:
    """Pickled batch files of a tiny CIFAR-10 (5 train batches) or CIFAR-100; and the arrays written."""
    rng = np.random.default_rng(seed)
    if variant == "cifar10":
        train_names, test_names, meta_name = [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta"
        label_key, k = b"labels", 10
        meta = {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_cases_per_batch": n_per_batch}
    else:
        train_names, test_names, meta_name = ["train"], ["test"], "meta"
        label_key, k = b"fine_labels", 100
        meta = {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                b"coarse_label_names": [f"g{i}".encode() for i in range(20)]}
    members = {meta_name: _pickled(meta)}
    arrays = {}
    for split, names in (("train", train_names), ("test", test_names)):
        xs, ys = [], []
        for name in names:
            data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, k, size=n_per_batch)]
            batch = {b"batch_label": name.encode(), b"data": data, label_key: labels,
                     b"filenames": [f"img{i}.png".encode() for i in range(n_per_batch)]}
            if variant == "cifar100":
                batch[b"coarse_labels"] = [v % 20 for v in labels]
            members[name] = _pickled(batch)
            xs.append(data)
            ys.append(labels)
        arrays[split] = (np.concatenate(xs).reshape(-1, 3, 32, 32), np.concatenate(ys).astype(np.int64))
    return members, arrays


def write_tar(path: Path, folder_name: str, members: dict[str, bytes]) -> Path:
    """A .tar.gz holding ``folder_name/<member>`` for each member."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"{folder_name}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def write_svhn(path: Path, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An SVHN-format .mat file; returns (X (32, 32, 3, N) uint8, y (N, 1) in 1..10)."""
    import scipy.io

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
    y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"X": x, "y": y})
    return x, y
