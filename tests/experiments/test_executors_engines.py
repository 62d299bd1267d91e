"""Executors on real engines: a two-node Ray cluster on localhost (``ray start``) and submitit's local executor.

For each: the example spec's smoke preset runs through the engine from the command line, a worker running a
job is killed with SIGKILL mid-run (no retries, so the first invocation reports it), the same command is run
again, and then every run has finished exactly once (finished runs untouched by the rerun, each epoch recorded
once), the catalog (written only by the driver) passes SQLite's integrity check and matches the run folders,
and metrics, results and weights are bitwise identical to the local executor's (``--workers 2``: one torch
thread per job, as on the engines). These take minutes: ``make test-distributed``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import hessianlab
from hessianlab.experiments.jobs import FINAL

pytestmark = pytest.mark.distributed
EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "hessianlab" / "experiments" / "specs" / "example-batch-sweep.yaml"
SRC = str(Path(hessianlab.__file__).resolve().parents[1])


def _env(**extra: str) -> dict[str, str]:
    """This checkout's hessianlab for every process; Ray's token authentication off (localhost only)."""
    path = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "HESSIANLAB_DEVICE": "cpu", "RAY_AUTH_MODE": "disabled",
            "OMP_NUM_THREADS": "1", **extra}


def _run_cmd(out: Path, *executor: str, spec: Path = EXAMPLE) -> list[str]:
    return [sys.executable, "-m", "hessianlab", "run", str(spec), "--preset", "smoke", "--out", str(out),
            "--quiet", *executor]


def _files(out: Path) -> dict[str, dict]:
    """Per run: status, metrics without wall time, results without seconds, and the final weights."""

    def strip(obj):
        if isinstance(obj, dict):
            return {k: Path(v).name if k in ("source", "target") and v else strip(v)
                    for k, v in obj.items() if k not in ("seconds", "wall_seconds")}
        return [strip(v) for v in obj] if isinstance(obj, list) else obj

    snap = {}
    for run in sorted(p for p in (out / "runs").iterdir() if p.is_dir()):
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        weights = torch.load(run / "model.pt", weights_only=True)
        snap[run.name] = {"status": json.loads((run / "status.json").read_text())["status"],
                          "metrics": strip(metrics), "results": strip(json.loads((run / "results.json").read_text())),
                          "weights": {k: v.numpy().tobytes() for k, v in weights.items()}}
    return snap


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "smoke"
    subprocess.run(_run_cmd(out, "--workers", "2"), env=_env(), check=True, timeout=600)
    return out


def _job_processes(marker: str) -> list[int]:
    """Pids of this user's processes whose command line contains ``marker``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def _kill_a_worker_mid_run(out: Path, cmd: list[str], marker: str, env: dict[str, str]) -> None:
    """Start the sweep, SIGKILL one job process once a run is training, and let the driver finish."""
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = False
    deadline = time.monotonic() + 300
    while not killed and driver.poll() is None and time.monotonic() < deadline:
        running = [f for f in out.glob("runs/*/status.json") if '"running"' in f.read_text()]
        pids = [p for p in _job_processes(marker) if p != driver.pid] if running else []
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed = True
        time.sleep(0.02)
    assert driver.wait(timeout=600) == 0
    assert killed, "no job process was seen while a run was training"


def _check_rerun(out: Path, reference: Path, cmd: list[str], env: dict[str, str]) -> None:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"], summary
    unfinished = [n for n, r in summary["runs"].items() if r["status"] not in FINAL]
    incomplete = [n for n, r in summary["runs"].items() if any(not v.startswith("done") for v in r["analyses"].values())]
    assert unfinished or incomplete, "the killed job left nothing to redo"
    kept = {f: f.stat().st_mtime_ns for n, r in summary["runs"].items() if r["status"] in FINAL
            for f in [out / "runs" / n / "model.pt", out / "runs" / n / "metrics.jsonl"]}
    subprocess.run(cmd, env=env, check=True, timeout=600, stdout=subprocess.DEVNULL)
    again = json.loads((out / "summary.json").read_text())
    assert again["trained"] == len(unfinished)  # only the killed run trained again
    assert {f: f.stat().st_mtime_ns for f in kept} == kept  # finished runs untouched
    for name, run in again["runs"].items():
        assert run["status"] == "finished" and set(run["analyses"].values()) == {"done"}, (name, run)
        epochs = [json.loads(line)["epoch"] for line in (out / "runs" / name / "metrics.jsonl").read_text().splitlines()]
        assert epochs == list(range(1, len(epochs) + 1)), (name, epochs)  # every epoch once
    assert _files(out) == _files(reference)
    conn = sqlite3.connect(out / "runs" / "catalog.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = dict(conn.execute("SELECT run_id, status FROM runs").fetchall())
        results = conn.execute("SELECT run_id, kind, key FROM results").fetchall()
    finally:
        conn.close()
    assert rows == {name: "finished" for name in again["runs"]}
    stored = {(n, kind, key) for n in again["runs"]
              for kind, entries in json.loads((out / "runs" / n / "results.json").read_text()).items() for key in entries}
    assert set(results) == stored


def _free_port_block(size: int) -> int:
    """A first port of ``size`` consecutive ports that are free on localhost now."""
    for base in range(21000, 60000, size + 7):
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port block")


def _ray_node(ray: str, base: int, head: str | None, log: Path) -> subprocess.Popen:
    """``ray start --block`` in its own process group: the head (``head`` None) or a node joining it."""
    ports = ["--node-manager-port", str(base + 1), "--object-manager-port", str(base + 2),
             "--min-worker-port", str(base + 20), "--max-worker-port", str(base + 60),
             "--dashboard-agent-listen-port", str(base + 3), "--dashboard-agent-grpc-port", str(base + 4),
             "--metrics-export-port", str(base + 5), "--runtime-env-agent-port", str(base + 6)]
    role = (["--head", "--port", str(base), "--ray-client-server-port", str(base + 7), "--include-dashboard=false"]
            if head is None else ["--address", head])
    cmd = [ray, "start", *role, *ports, "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--num-gpus", "0",
           "--object-store-memory", str(80 * 2**20), "--disable-usage-stats", "--block"]
    return subprocess.Popen(cmd, env=_env(), stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each node's process group (``ray start --block`` then stops its raylet and workers), then SIGKILL."""
    for proc in reversed(procs):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for proc in reversed(procs):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
    exe = str(Path(sys.executable).parent / "ray")
    logs = tmp_path_factory.mktemp("ray-logs")
    base = _free_port_block(140)
    address = f"127.0.0.1:{base}"
    nodes = [_ray_node(exe, base, None, logs / "head.log")]
    try:
        deadline = time.monotonic() + 120
        while True:  # the head's GCS accepts connections
            try:
                socket.create_connection(("127.0.0.1", base), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and nodes[0].poll() is None, (logs / "head.log").read_text()[-2000:]
                time.sleep(0.5)
        nodes.append(_ray_node(exe, base + 70, address, logs / "node.log"))
        os.environ["RAY_AUTH_MODE"] = "disabled"
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        try:
            while len([n for n in ray.nodes() if n["Alive"]]) < 2:
                assert time.monotonic() < deadline and nodes[1].poll() is None, (logs / "node.log").read_text()[-2000:]
                time.sleep(0.5)
        finally:
            ray.shutdown()
        yield address
    finally:
        _stop(nodes)


def test_ray_cluster_worker_killed_then_rerun_equals_local(ray_cluster, local_reference, tmp_path) -> None:
    out = tmp_path / "ray"
    cmd = _run_cmd(out, "--executor", f"ray:{ray_cluster}", "--retries", "0")
    _kill_a_worker_mid_run(out, cmd, "ray::_task", _env())
    _check_rerun(out, local_reference, cmd, _env())


def test_ray_init_from_chains_equal_local(ray_cluster, tmp_path) -> None:
    """Robust models continued from M_ORI (init_from as Ray task dependencies) give the local pool's results."""
    spec = EXAMPLE.with_name("yao-adversarial-training.yaml")
    subprocess.run(_run_cmd(tmp_path / "local", "--workers", "2", spec=spec), env=_env(), check=True, timeout=900)
    subprocess.run(_run_cmd(tmp_path / "ray", "--executor", f"ray:{ray_cluster}", spec=spec), env=_env(),
                   check=True, timeout=900)
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    assert len(_files(tmp_path / "ray")) == 6


def test_submitit_local_worker_killed_then_rerun_equals_local(local_reference, tmp_path) -> None:
    pytest.importorskip("submitit", reason="the [slurm] extra is not installed")
    out = tmp_path / "slurm"
    cmd = _run_cmd(out, "--executor", "slurm:local")
    _kill_a_worker_mid_run(out, cmd, f"submitit.core._submit {out / 'slurm'}", _env())
    assert list((out / "slurm").glob("*_submitted.pkl"))  # jobs went through submitit's pickles
    _check_rerun(out, local_reference, cmd, _env())
