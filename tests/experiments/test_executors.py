"""Executor options and their mistakes (one line, exit 2), and the worker-side job wrapper's catalog rule.

The runs on real engines are in test_executors_engines.py (``make test-distributed``)."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import pytest
import yaml

from hessianlab.cli import main
from hessianlab.errors import ConfigError
from hessianlab.experiments import jobs
from hessianlab.experiments.catalog import Catalog
from hessianlab.experiments.execution import Execution, check_block, parse_executor, resolve
from hessianlab.experiments.remote import run_job
from hessianlab.experiments.store import RunDir, index_run
from hessianlab.training.config import TrainConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "hessianlab" / "experiments" / "specs" / "example-batch-sweep.yaml"


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def _run(tmp_path: Path, *flags: str) -> list[str]:
    return ["run", str(EXAMPLE), "--preset", "smoke", "--out", str(tmp_path / "out"), "--quiet", *flags]


@pytest.mark.parametrize("value, kind, address", [("local", "local", None), ("ray", "ray", None),
                                                   ("ray:auto", "ray", "auto"), ("ray:10.0.0.1:6379", "ray", "10.0.0.1:6379"),
                                                   ("slurm", "slurm", None), ("slurm:local", "slurm", "local")])
def test_executor_names(value: str, kind: str, address: str | None) -> None:
    assert parse_executor(value) == (kind, address)


@pytest.mark.parametrize("value", ["dask", "local:x", "slurm:cluster", "ray:", ""])
def test_bad_executor_names(value: str) -> None:
    with pytest.raises(ConfigError, match="executor"):
        parse_executor(value)


def test_cli_flags_override_the_spec_block_field_by_field() -> None:
    block = {"executor": "slurm", "cpus": 4, "gpus": 1, "partition": "gpu", "time_min": 600}
    ex = resolve(block, {"executor": None, "cpus": 2, "partition": None, "qos": "high"})
    assert ex == Execution("slurm", None, cpus=2, gpus=1, time_min=600, partition="gpu", qos="high")
    assert ex.remote and not resolve(None).remote and resolve(None).kind == "local"


@pytest.mark.parametrize("block, field", [({"cpus": "4"}, "execution.cpus"), ({"gpus": True}, "execution.gpus"),
                                          ({"time_min": 1.5}, "execution.time_min"), ({"cpus": 0}, "execution.cpus"),
                                          ({"nodes": 2}, "execution.nodes"), ([1], "execution")])
def test_execution_block_is_checked(block, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        check_block(block)


def test_unknown_executor_is_one_line(tmp_path, capsys) -> None:
    _one_line_error(capsys, _run(tmp_path, "--executor", "dask"), "unknown executor 'dask'", "ray")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("module, executor, extra", [("ray", "ray", "hessianlab[ray]"),
                                                     ("submitit", "slurm:local", "hessianlab[slurm]")])
def test_missing_extra_is_one_line(tmp_path, capsys, monkeypatch, module: str, executor: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if the package were absent
    _one_line_error(capsys, _run(tmp_path, "--executor", executor), module, extra)


def test_unreachable_ray_address_is_one_line(tmp_path, capsys) -> None:
    pytest.importorskip("ray", reason="the [ray] extra is not installed")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _one_line_error(capsys, _run(tmp_path, "--executor", f"ray:127.0.0.1:{port}"), f"127.0.0.1:{port}", "ray start")
    _one_line_error(capsys, _run(tmp_path, "--executor", "ray:nohost"), "ray:HOST:PORT")


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="Slurm is installed here")
def test_slurm_without_sbatch_is_one_line(tmp_path, capsys) -> None:
    pytest.importorskip("submitit", reason="the [slurm] extra is not installed")
    _one_line_error(capsys, _run(tmp_path, "--executor", "slurm"), "sbatch", "slurm:local")


def test_execution_key_with_a_wrong_type_is_one_line(tmp_path, capsys) -> None:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["presets"]["smoke"]["execution"] = {"executor": "ray", "gpus": "one"}
    file = tmp_path / "spec.yaml"
    file.write_text(yaml.safe_dump(spec))
    _one_line_error(capsys, ["run", str(file), "--preset", "smoke", "--quiet"], "presets.smoke.execution.gpus",
                    "number")
    _one_line_error(capsys, _run(tmp_path, "--cpus-per-job", "0"), "cpus", "> 0")


def test_spec_execution_block_reaches_the_spec(tmp_path) -> None:
    from hessianlab.experiments.spec import load_spec

    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["execution"] = {"executor": "slurm", "cpus": 8, "partition": "cpu"}
    spec["presets"]["smoke"]["execution"] = {"partition": "gpu", "gpus": 1}
    file = tmp_path / "spec.yaml"
    file.write_text(yaml.safe_dump(spec))
    loaded = load_spec(file, "smoke")
    assert loaded.execution == {"executor": "slurm", "cpus": 8, "partition": "gpu", "gpus": 1}
    assert loaded.to_dict()["execution"] == loaded.execution
    assert "execution" not in load_spec(EXAMPLE, "smoke").to_dict()


def test_remote_jobs_write_run_folders_and_never_the_catalog(tmp_path) -> None:
    cfg = TrainConfig(dataset="synthetic", model="mlp", width=0.05, subset=32, test_subset=16, batch_size=16,
                      lr=0.1, target_loss=None, max_epochs=1)
    root = tmp_path / "runs"
    root.mkdir()
    outcome = run_job(jobs.train_job, 1, ("r", cfg.to_dict(), str(root / "r"), "cpu"))
    assert outcome["status"] == "finished"
    assert (root / "r" / "model.pt").is_file() and not (root / "catalog.sqlite").exists()
    RunDir.open(root / "r").set_status("finished")  # outside run_job the catalog is written as before
    assert Catalog(root).runs()[0]["run_id"] == "r"
    index_run(root / "r", root)  # what the driver does for remote jobs
    (row,) = Catalog(root).runs()
    assert row["status"] == "finished" and row["config_hash"] == cfg.config_hash()
