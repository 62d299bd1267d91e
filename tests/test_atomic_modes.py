"""Atomic writes: file modes follow the umask (shared run folders are group-readable), a replaced file keeps
its mode, and an OSError while writing names the file."""

from __future__ import annotations

import errno
import os
import stat

import pytest
import torch

from hessianlab import atomic
from hessianlab.errorline import error_line


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_without_changing(umask_022):
    assert atomic.current_umask() == 0o022
    assert atomic.current_umask() == 0o022


@pytest.mark.parametrize("write", [lambda p: atomic.write_text(p, "x"), lambda p: atomic.write_json(p, {"a": 1}),
                                   lambda p: atomic.save_tensors(p, {"w": torch.ones(3)})])
def test_new_files_are_group_readable_under_umask_022(write, tmp_path, umask_022):
    path = tmp_path / "f"
    write(path)
    assert _mode(path) == 0o644


def test_a_replaced_file_keeps_its_mode(tmp_path, umask_022):
    path = tmp_path / "status.json"
    atomic.write_json(path, {"a": 1})
    path.chmod(0o640)
    atomic.write_json(path, {"a": 2})
    assert _mode(path) == 0o640
    assert path.read_text().strip().endswith("}")


def test_a_training_run_folder_is_group_readable(tmp_path, umask_022):
    from hessianlab.cli import main

    out = tmp_path / "runs" / "r"
    assert main(["train", "--model", "logreg", "--dataset", "digits", "--batch-size", "128", "--no-target",
                 "--max-epochs", "1", "--quiet", "--out", str(out)]) == 0
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.json", "status.json", "metrics.jsonl", "checkpoint.pt", "model.pt",
                                       "catalog.sqlite"}
    for path in files:
        assert _mode(path) & 0o044 == 0o044, f"{path} is {oct(_mode(path))}"


def test_write_errors_name_the_file_and_leave_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "results.json"

    def full(handle):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as info:
        atomic._atomic(path, full, "w")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert list(tmp_path.iterdir()) == []
    line = error_line(info.value)
    assert line.startswith(f"{path}: no space left") and "rerun" in line


def test_writing_over_a_folder_names_the_folder(tmp_path):
    (tmp_path / "out.json").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        atomic.write_json(tmp_path / "out.json", {})
    assert info.value.filename == str(tmp_path / "out.json")
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
