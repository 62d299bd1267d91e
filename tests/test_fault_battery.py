"""The fault battery: every fault a user can cause, through the real CLI in a subprocess.

Each case runs in its own folder (a copy of two tiny trained runs) and must end with exit code 2, exactly one
line on stderr, no traceback, no file changed outside the case's run folder, and, for the pickle and YAML-tag
cases, no marker file (no code of the file ran). Each case's process is forked from a forkserver that has
imported torch and the CLI once, and runs ``hessianlab.cli.main`` as ``python -m hessianlab`` does (an uncaught
exception prints its traceback and exits 1).
The disk-full cases at the end (ENOSPC and a read-only file system on a size-limited tmpfs the test mounts)
run ``python -m hessianlab`` itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import json
import multiprocessing
import os
import pickle
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch

from hessianlab.cli import main
from hessianlab.experiments import health
from hessianlab.experiments.lock import run_lock

TINY = ["--model", "mlp", "--dataset", "digits", "--batch-size", "64", "--lr", "0.1", "--no-target",
        "--max-epochs", "1", "--width", "0.25", "--quiet"]
SHAPED = ["--model", "mlp", "--dataset", "synthetic:shape=3x8x8,classes=4", "--subset", "64", "--test-subset", "32",
          "--batch-size", "32", "--lr", "0.1", "--no-target", "--max-epochs", "1", "--width", "0.25", "--quiet"]
SPEC = ("name: t\nbase: {model: mlp, dataset: digits, max_epochs: 1, width: 0.25}\nsweep: {batch_size: [64]}\n"
        "analyses: []\n")
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, _LINUX_CAPABILITY_VERSION_3 = 1, 2, 0x20080522


class _Evil:
    """A pickle that runs a shell command when unpickled by an unsafe loader."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _evil(d: Path) -> bytes:
    return pickle.dumps(_Evil(f"touch {d / 'MARKER'}"), protocol=4)


def _write(d: Path, rel: str, data: str | bytes) -> None:
    target = d / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data if isinstance(data, bytes) else data.encode())


def _spec(d: Path, text: str) -> None:
    _write(d, "s.yaml", text)


def _malicious_checkpoint(name: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        torch.save(_Evil(f"touch {d / 'MARKER'}"), d / "runs" / "a" / name)
    return setup


def _evil_cifar(d: Path) -> None:
    for member in ("batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch"):
        _write(d, f"data/cifar10/cifar-10-batches-py/{member}", _evil(d))


def _corrupt_idx(d: Path) -> None:
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        _write(d, f"data/fashion-mnist/{name}.gz", gzip.compress(b"\x00\x00\x08\x02" + b"\x00" * 64))


def _read_only(d: Path) -> None:
    (d / "locked").mkdir()
    (d / "locked").chmod(0o555)


@dataclass(frozen=True)
class Case:
    """``argv`` run in the case folder; ``needle`` must be in the error line; ``allowed``: the run folder that
    may change; ``marker``: the case checks that no ``MARKER`` file appears; ``lock``: a run folder the test
    holds locked meanwhile; ``no_dac``: run without root's permission override (so EACCES is real)."""

    id: str
    argv: list[str]
    needle: str
    setup: Callable[[Path], None] | None = None
    allowed: str | None = None
    marker: bool = False
    lock: str | None = None
    no_dac: bool = False
    env: dict[str, str] = field(default_factory=dict)


CASES = [
    # flags and numbers
    Case("bad-batch-size", ["train", "--out", "n", *TINY, "--batch-size", "0"], "batch_size"),
    Case("batch-size-not-int", ["train", "--out", "n", *TINY, "--batch-size", "abc"], "batch-size"),
    Case("unknown-schedule", ["train", "--out", "n", *TINY, "--lr-schedule", "cosine"], "lr_schedule"),
    Case("unknown-model", ["train", "--out", "n", *TINY, "--model", "vgg"], "vgg"),
    Case("unknown-dataset", ["train", "--out", "n", *TINY, "--dataset", "nonexistent"], "nonexistent"),
    Case("unknown-attack-mixing", ["train", "--out", "n", *TINY, "--adversarial", "bogus"], "bogus"),
    Case("negative-lr", ["train", "--out", "n", *TINY, "--lr", "-1"], "lr"),
    Case("unknown-command", ["eigs-not-a-command"], "invalid choice"),
    Case("unknown-flag", ["train", "--out", "n", *TINY, "--frobnicate"], "frobnicate"),
    Case("bad-device", ["train", "--out", "n", *TINY, "--device", "tpu"], "tpu"),
    Case("threads-zero", ["--threads", "0", "train", "--out", "n", *TINY], "--threads"),
    Case("threads-zero-after-command", ["train", "--threads", "0", "--out", "n", *TINY], "--threads"),
    Case("eigs-k-zero", ["eigs", "runs/a", "--k", "0"], "--k"),
    Case("eigs-samples-zero", ["eigs", "runs/a", "--samples", "0"], "samples"),
    Case("eigs-block-matches-nothing", ["eigs", "runs/a", "--params", "^no_such_layer"], "selects no parameter"),
    Case("eigs-block-bad-regex", ["eigs", "runs/a", "--params", "fc("], "regex"),
    Case("attack-bad-split", ["attack", "runs/a", "--split", "val"], "val"),
    Case("attack-bad-eps", ["attack", "runs/a", "--eps", "abc"], "eps"),
    Case("compare-bad-sizes", ["compare-batch", "--out", "c", *TINY[:4], "--batch-sizes", "a,b"], "batch-sizes"),
    Case("run-workers-zero", ["run", "s.yaml", "--workers", "0"], "workers", setup=lambda d: _spec(d, SPEC)),
    Case("simulate-runs-no-procs", ["simulate-time", "--runs", "runs/a"], "--procs"),
    Case("long-flag-value", ["train", "--out", "n", *TINY, "--model", "x" * 20000], "model"),
    # specs
    Case("spec-missing", ["run", "nope.yaml"], "not found"),
    Case("spec-unknown-field", ["run", "s.yaml"], "colour", setup=lambda d: _spec(d, SPEC + "colour: red\n")),
    Case("spec-bad-value", ["run", "s.yaml"], "batch_size",
         setup=lambda d: _spec(d, SPEC.replace("[64]", "[0]"))),
    Case("spec-undefined-preset", ["run", "s.yaml", "--preset", "huge"], "huge", setup=lambda d: _spec(d, SPEC)),
    Case("spec-not-yaml", ["run", "s.yaml"], "YAML", setup=lambda d: _spec(d, "name: [unclosed\n")),
    Case("spec-python-tag", ["run", "s.yaml"], "s.yaml", marker=True,
         setup=lambda d: _spec(d, "!!python/object/apply:os.system ['touch MARKER']\n")),
    Case("spec-python-name-tag", ["run", "s.yaml"], "s.yaml", marker=True,
         setup=lambda d: _spec(d, SPEC.replace("name: t", "name: !!python/object/apply:os.system ['touch MARKER']"))),
    Case("spec-binary", ["run", "s.yaml"], "not a text file", setup=lambda d: _spec(d, bytes(range(256)) * 8)),
    Case("spec-huge-text", ["run", "s.yaml"], "s.yaml", setup=lambda d: _spec(d, "a" * 2_000_000)),
    Case("spec-is-folder", ["run", "runs/"], "is a folder"),
    # data
    Case("corrupt-idx", ["train", "--out", "n", *TINY, "--dataset", "fashion-mnist", "--data-dir", "data"],
         "fashion-mnist", setup=_corrupt_idx),
    Case("missing-mnist-data-dir-after-command", ["train", "--out", "n", *TINY, "--dataset", "mnist", "--data-dir",
                                                  "empty"], "download"),
    Case("malicious-cifar-batch", ["train", "--out", "n", *TINY, "--dataset", "cifar10", "--data-dir", "data"],
         "cifar", setup=_evil_cifar, marker=True),
    # run folders
    Case("malicious-model-pt", ["attack", "runs/a"], "model.pt", setup=_malicious_checkpoint("model.pt"), marker=True),
    Case("malicious-checkpoint-pt", ["train", "--out", "runs/a", *TINY, "--resume"], "checkpoint.pt",
         setup=_malicious_checkpoint("checkpoint.pt"), marker=True, allowed="runs/a"),
    Case("not-a-run-folder", ["eigs", "data"], "not a run directory", setup=lambda d: (d / "data").mkdir()),
    Case("out-is-a-file", ["train", "--out", "f", *TINY], "f: already exists", setup=lambda d: _write(d, "f", "x")),
    Case("out-below-a-file", ["train", "--out", "f/run", *TINY], "not a folder", setup=lambda d: _write(d, "f", "x")),
    Case("out-not-writable", ["train", "--out", "locked/run", *TINY], "permission denied", setup=_read_only,
         no_dac=True),
    Case("resume-missing-folder", ["train", "--out", "nothing", *TINY, "--resume"], "does not exist"),
    Case("resume-another-config", ["train", "--out", "runs/a", *TINY, "--seed", "7", "--resume"], "another config",
         allowed="runs/a"),
    Case("start-over-a-started-run", ["train", "--out", "runs/a", *TINY], "--resume", allowed="runs/a"),
    Case("run-folder-locked", ["train", "--out", "runs/a", *TINY, "--resume"], "in use", lock="runs/a",
         allowed="runs/a"),
    Case("corrupt-config-json", ["eigs", "runs/a"], "config.json: corrupt JSON; delete the run folder",
         setup=lambda d: _write(d, "runs/a/config.json", "{")),
    Case("corrupt-results-json", ["eigs", "runs/a", "--k", "1", "--samples", "8"], "results.json: corrupt JSON; repair",
         setup=lambda d: _write(d, "runs/a/results.json", "{\"eigs\": "), allowed="runs/a"),
    Case("corrupt-metrics-line", ["simulate-time", "--runs", "runs/a", "--procs", "4"], "metrics.jsonl",
         setup=lambda d: _write(d, "runs/a/metrics.jsonl", "{oops}\n{}\n")),
    Case("attack-source-other-shape", ["attack", "runs/a", "--source", "runs/shape"], "same data"),
    Case("attack-source-not-a-run", ["attack", "runs/a", "--source", "data"], "not a run directory",
         setup=lambda d: (d / "data").mkdir()),
    Case("report-missing-folder", ["report", "nowhere"], "nowhere"),
    Case("report-corrupt-spec-json", ["report", "runs", "--out", "rep"], "spec.json",
         setup=lambda d: _write(d, "runs/spec.json", "[1, 2"), allowed="rep"),
    # catalogs and listing
    Case("runs-missing-folder", ["runs", "nowhere"], "does not exist"),
    Case("runs-on-a-file", ["runs", "runs/a/config.json"], "not a folder"),
    Case("runs-random-catalog", ["runs", "runs"], "--repair",
         setup=lambda d: _write(d, "runs/catalog.sqlite", os.urandom(5000))),
    Case("check-missing-folder", ["runs", "nowhere", "--check"], "does not exist"),
    Case("runs-truncated-catalog", ["runs", "runs"], "--repair",
         setup=lambda d: _write(d, "runs/catalog.sqlite", (d / "runs" / "catalog.sqlite").read_bytes()[:8192])),
    Case("simulate-json-into-folder", ["simulate-time", "--paper-table3", "--json", "runs"], "is a folder"),
]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_dac() -> None:
    """In this (child) process: no CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, so file modes bind root too."""
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    keep = ~((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH)) & 0xFFFFFFFF
    data[0].effective &= keep
    data[0].permitted &= keep
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        is_file = path.is_file()
        out[str(path.relative_to(root))] = (st.st_mode, st.st_size if is_file else 0, st.st_mtime_ns if is_file else 0)
    return out


def _cli_child(argv: list[str], cwd: str, env: dict[str, str], no_dac: bool, out: str, err: str) -> None:
    """The CLI in a fresh process forked from the forkserver (torch already imported there), as
    ``python -m hessianlab ARGV`` runs it: uncaught exceptions print their traceback and exit 1."""
    os.chdir(cwd)
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
    code = 1
    try:
        if no_dac:
            _drop_dac()
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - what the interpreter would do with it
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _run_case(case: Case, d: Path, ctx) -> dict[str, object]:
    if case.setup is not None:
        case.setup(d)
    before = _snapshot(d)
    env = {"HOME": str(d / "home"), "HESSIANLAB_DATA": str(d / "nodata"), "HESSIANLAB_DEVICE": "cpu",
           "MPLCONFIGDIR": str(d.parent / "matplotlib-cache"), **case.env}  # matplotlib's font cache: not ours
    argv = case.argv if case.id == "threads-zero" else ["--threads", "1", *case.argv]
    out, err = d.parent / f"{d.name}.out", d.parent / f"{d.name}.err"
    no_dac = case.no_dac and os.geteuid() == 0
    child = ctx.Process(target=_cli_child, args=(argv, str(d), env, no_dac, str(out), str(err)))
    with run_lock(d / case.lock) if case.lock is not None else contextlib.nullcontext():
        child.start()
        child.join(300)
    after = _snapshot(d)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k) and k != "."
                     and not (case.allowed and (k == case.allowed or k.startswith(case.allowed + "/"))))
    return {"code": child.exitcode, "stderr": err.read_text(), "changed": changed,
            "marker": any(p.name == "MARKER" for p in d.rglob("MARKER"))}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Two finished one-epoch runs: ``runs/a`` (digits, 1x8x8) and ``runs/shape`` (synthetic 3x8x8, 4 classes)."""
    root = tmp_path_factory.mktemp("battery-base")
    assert main(["--threads", "1", "train", *TINY, "--out", str(root / "runs" / "a")]) == 0
    assert main(["--threads", "1", "train", *SHAPED, "--out", str(root / "runs" / "shape")]) == 0
    return root


@pytest.fixture(scope="module")
def forkserver():
    """A forkserver context that imports torch and the CLI once; each case's process is forked from it."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "hessianlab.cli", "hessianlab.commands._training", __name__])
    return ctx


def test_marker_payloads_run_under_unsafe_loaders(tmp_path, monkeypatch):
    """The pickle and YAML payloads of the battery do run code when loaded unsafely, so their cases can fail."""
    import yaml

    monkeypatch.chdir(tmp_path)
    pickle.loads(_evil(tmp_path))
    assert (tmp_path / "MARKER").exists()
    (tmp_path / "MARKER").unlink()
    yaml.unsafe_load("!!python/object/apply:os.system ['touch MARKER']\n")
    assert (tmp_path / "MARKER").exists()


def test_battery_is_large():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault_is_one_line_exit_2(case, base, forkserver, tmp_path):
    folder = tmp_path / "case"
    shutil.copytree(base / "runs", folder / "runs")
    out = _run_case(case, folder, forkserver)
    lines = str(out["stderr"]).splitlines()
    assert out["code"] == 2, out["stderr"]
    assert len(lines) == 1, lines
    line = lines[0]
    assert "Traceback" not in line and line.startswith("hessianlab")
    assert case.needle in line, line
    assert len(line) < 700, line  # at most ~200 characters of any user input
    assert out["changed"] == [], f"files changed outside the run folder: {out['changed']}"
    if case.marker:
        assert not out["marker"], "the file's code ran"


# --- disk full --------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A size-limited tmpfs (160 KiB) mounted for the test; skipped where mounting is not permitted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _train(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HESSIANLAB_DEVICE": "cpu"}
    return subprocess.run([sys.executable, "-m", "hessianlab", "--threads", "1", "train", *TINY, "--max-epochs", "3",
                           "--out", str(out), *extra], capture_output=True, text=True, env=env, timeout=300)


def test_disk_full_is_one_line_data_intact_and_resume_exact(small_disk, tmp_path):
    """A train that fills the disk says so in one line (exit 2); its last checkpoint loads; after space is freed
    ``--resume`` ends with exactly the metrics and weights of a run on a roomy disk."""
    out = small_disk / "run"
    proc = _train(out)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert "no space left" in lines[0] and str(small_disk) in lines[0]
    assert not list(small_disk.rglob(".*.tmp")), "a temporary file was left behind"
    if (out / "checkpoint.pt").exists():  # what was written is intact
        torch.load(out / "checkpoint.pt", weights_only=True)
    for line in (out / "metrics.jsonl").read_text().splitlines() if (out / "metrics.jsonl").exists() else []:
        json.loads(line)
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    resumed = _train(out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    reference = _train(tmp_path / "ref")
    assert reference.returncode == 0, reference.stderr

    def strip(path: Path) -> list[dict]:
        return [{k: v for k, v in json.loads(l).items() if k != "wall_seconds"} for l in path.read_text().splitlines()]

    assert strip(out / "metrics.jsonl") == strip(tmp_path / "ref" / "metrics.jsonl")
    mine, theirs = (torch.load(p / "model.pt", weights_only=True) for p in (out, tmp_path / "ref"))
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)


def test_read_only_file_system_is_one_line(small_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    proc = _train(small_disk / "run")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "read-only file system" in lines[0]


def test_sweep_on_a_full_disk_stops_with_one_line_and_completes_after(small_disk, tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("max_epochs: 1", "max_epochs: 2").replace("[64]", "[64, 128]"))
    env = {**os.environ, "HESSIANLAB_DEVICE": "cpu"}

    def sweep(out: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hessianlab", "--threads", "1", "run", str(spec), "--out",
                               str(out), "--quiet"], capture_output=True, text=True, env=env, timeout=300)

    proc = sweep(small_disk / "sweep")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "no space left" in lines[0], proc.stderr
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    assert sweep(small_disk / "sweep").returncode == 0  # resumes (exactness: the train test above)
    statuses = [json.loads(p.read_text())["status"] for p in (small_disk / "sweep" / "runs").glob("*/status.json")]
    assert statuses == ["finished", "finished"]
    assert health.check(small_disk / "sweep") == []
