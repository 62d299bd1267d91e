"""Download of the official dataset files, verified and atomic.

:data:`SOURCES` maps a registry name to the files to fetch (URLs tried in order, and the checksum the
publisher lists). It is a plain module-level dict so tests and users behind a mirror can override it
(``SOURCES["mnist"] = (RemoteFile("train-images-idx3-ubyte.gz", ("file:///mirror/...",), md5=...), ...)``)
or pass ``sources=`` to :func:`download_dataset`.

Checksums: the publishers of these files list MD5 sums (Fashion-MNIST README, CIFAR page; torchvision
hard-codes the same values for MNIST and SVHN); they are copied here verbatim. A file is written to a
temporary name in the target folder, hashed while streaming, and renamed into place only when the sum
matches; on a mismatch the temporary file is deleted and a :class:`~hessianlab.errors.DataError` raised.
A :class:`RemoteFile` with neither ``md5`` nor ``sha256`` is accepted unverified (logged as a warning).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hessianlab.errors import ConfigError, DataError

__all__ = ["RemoteFile", "SOURCES", "default_root", "describe", "download_dataset", "download_file", "redownload_hint"]

logger = logging.getLogger(__name__)

DATA_ENV = "HESSIANLAB_DATA"


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: its name in the target folder, mirror URLs (tried in order), checksum."""

    filename: str
    urls: tuple[str, ...]
    md5: str | None = None
    sha256: str | None = None


def _idx(base_urls: tuple[str, ...], sums: dict[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, tuple(base + name for base in base_urls), md5=md5) for name, md5 in sums.items())


SOURCES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": _idx(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": _idx(
        ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "cifar10": (RemoteFile("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                           md5="c58f30108f718f92721af3b95e74349a"),),
    "cifar100": (RemoteFile("cifar-100-python.tar.gz",
                            ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                            md5="eb9058c3a382ffc7106e4002c42a8d85"),),
    "svhn": (
        RemoteFile("train_32x32.mat", ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",),
                   md5="e26dedcc434d2e4c54c9b2d4a06d8373"),
        RemoteFile("test_32x32.mat", ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat",),
                   md5="eb5a983be6a315427106f1b164d9cef3"),
    ),
}


def default_root() -> Path:
    """Where downloads go without ``root=``: ``$HESSIANLAB_DATA`` if set, else ``~/.cache/hessianlab``."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hessianlab"


def redownload_hint(dataset: str) -> str:
    """The fix for a damaged file, as the tail of an error message."""
    return f"delete it and download again with `hessianlab datasets --download {dataset}`"


def describe(exc: BaseException, limit: int = 160) -> str:
    """``exc`` as a short single line for an error message (whitespace collapsed, truncated)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fetch(url: str, folder: Path, remote: RemoteFile, timeout: float) -> Path:
    """Stream ``url`` into a temporary file in ``folder``; return it after checking the checksum."""
    algo = "sha256" if remote.sha256 else "md5"
    expected = (remote.sha256 or remote.md5 or "").lower()
    digest = hashlib.new(algo)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{remote.filename}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    got = digest.hexdigest()
    if expected and got != expected:
        tmp.unlink(missing_ok=True)
        raise DataError(f"download of {remote.filename} from {url} failed its {algo} check (expected "
                        f"{expected}, got {got}); the bad file was deleted; retry, or fix the URL/checksum in "
                        f"hessianlab.data.download.SOURCES")
    if not expected:
        logger.warning("%s downloaded from %s without a checksum to verify it", remote.filename, url)
    return tmp


def download_file(remote: RemoteFile, folder: Path, *, timeout: float = 60.0) -> Path:
    """Download ``remote`` into ``folder/remote.filename`` (atomic rename after the checksum passed).

    URLs are tried in order; a network error moves on to the next one, a checksum mismatch stops at once.

    Returns:
        the final path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / remote.filename
    errors: list[str] = []
    for url in remote.urls:
        logger.info("downloading %s from %s", remote.filename, url)
        try:
            tmp = _fetch(url, folder, remote, timeout)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {describe(exc)}")
            continue
        os.replace(tmp, dest)
        return dest
    raise DataError(f"could not download {remote.filename} ({'; '.join(errors) or 'no URL'}); check the network "
                    f"or put the file at {dest} by hand")


def download_dataset(name: str, root: str | Path | None = None, *,
                     sources: dict[str, tuple[RemoteFile, ...]] | None = None) -> Path:
    """Download the files of ``name`` that are missing from ``<root>/<name>``.

    Args:
        name: a registry name with an entry in ``sources`` (default :data:`SOURCES`).
        root: base folder; default :func:`default_root`.
        sources: override of :data:`SOURCES`.

    Returns:
        the dataset folder ``<root>/<name>``. Files already present there are kept as they are.
    """
    table = SOURCES if sources is None else sources
    if name not in table:
        raise ConfigError(f"dataset {name!r} cannot be downloaded; downloadable: {', '.join(sorted(table))}")
    folder = (Path(root).expanduser() if root is not None else default_root()) / name
    for remote in table[name]:
        if (folder / remote.filename).is_file():
            logger.info("%s already present in %s", remote.filename, folder)
            continue
        download_file(remote, folder)
    return folder
