"""Fixtures of the data tests: isolation from the machine's data folders, and the writers of tiny official-format
files (tests/datafiles.py) as a fixture."""

from __future__ import annotations

import pytest
from datafiles import cifar_members, make_idx_folder, write_idx, write_svhn, write_tar

import hessianlab.data.registry as registry


@pytest.fixture(autouse=True)
def isolated_data_dirs(tmp_path_factory, monkeypatch):
    """No test sees ~/.cache/hessianlab, $HESSIANLAB_DATA or /usr/share/datasets unless it asks for them."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HESSIANLAB_DATA", raising=False)
    monkeypatch.setattr(registry, "SYSTEM_DIRS", (home / "no-system-datasets",))
    return home


@pytest.fixture
def datafiles():
    """The writers of tests/datafiles.py, as a fixture."""
    from types import SimpleNamespace

    return SimpleNamespace(write_idx=write_idx, make_idx_folder=make_idx_folder, cifar_members=cifar_members,
                           write_tar=write_tar, write_svhn=write_svhn)
