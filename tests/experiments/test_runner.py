"""The sweep runner: end to end on the example's smoke preset (2 workers), idempotent reruns, kill -9 and
resume giving identical results, and failures recorded without stopping the sweep."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hessianlab.cli import main
from hessianlab.experiments.analyses import ANALYSES, AnalysisContext
from hessianlab.experiments.analyses.attack import attack_key
from hessianlab.experiments.runner import run_sweep
from hessianlab.experiments.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "hessianlab" / "experiments" / "specs" / "example-batch-sweep.yaml"


def _snapshot(out: Path) -> dict:
    """Per run: metrics without wall time and results without seconds (the deterministic content)."""

    def strip(obj):
        if isinstance(obj, dict):  # source/target: run folders, compared by name across output folders
            return {k: Path(v).name if k in ("source", "target") and v else strip(v)
                    for k, v in obj.items() if k not in ("seconds", "wall_seconds")}
        return [strip(v) for v in obj] if isinstance(obj, list) else obj

    snap = {}
    for run in sorted((out / "runs").iterdir()):
        if run.is_dir():
            metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            results = json.loads((run / "results.json").read_text())
            snap[run.name] = {"status": json.loads((run / "status.json").read_text())["status"],
                              "metrics": strip(metrics), "results": strip(results)}
    return snap


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "smoke"
    spec = load_spec(EXAMPLE, "smoke")
    return spec, out, run_sweep(spec, out, workers=2)


def test_end_to_end_writes_every_result(sweep):
    spec, out, result = sweep
    assert result.trained == 3 and result.analysed == 3 and not result.failed
    assert json.loads((out / "spec.json").read_text())["preset"] == "smoke"
    assert (out / "runs" / "catalog.sqlite").is_file()
    plans = spec.expand()
    folders = {p.name: str(out / "runs" / p.name) for p in plans}
    points = {p.name: dict(p.point) for p in plans}
    for plan in plans:
        results = json.loads((out / "runs" / plan.name / "results.json").read_text())
        ctx = AnalysisContext(plan.name, folders, points)
        for analysis in spec.analyses:
            for kind, key in ANALYSES[analysis.kind].result_keys(analysis.params, ctx):
                assert key in results[kind], (plan.name, kind, key)
        for entry in results["landscape"].values():
            assert (out / "runs" / plan.name / entry["file"]).is_file()
        transfer = attack_key("fgsm", "test", folders[plans[0].name], eps=[0.02, 0.01])
        if plan is plans[0]:  # the source itself: its D_attack is its white-box attack, stored once as such
            assert transfer not in results["attack"]
            assert attack_key("fgsm", "test", eps=[0.02, 0.01]) in results["attack"]
            assert result.runs[0].analyses["fgsm-transfer"] == "done"
        else:
            assert results["attack"][transfer]["source"] == folders[plans[0].name]
    assert all(r.status == "finished" and set(r.analyses.values()) == {"done"} for r in result.runs[1:])


def test_rerun_does_no_work(sweep):
    spec, out, _ = sweep
    files = [f for f in (out / "runs").rglob("*") if f.suffix in (".pt", ".json", ".jsonl")]
    before = {f: f.stat().st_mtime_ns for f in files}
    again = run_sweep(spec, out, workers=2)
    assert again.trained == 0 and again.analysed == 0
    assert {f: f.stat().st_mtime_ns for f in files} == before


def test_kill_9_then_rerun_gives_identical_results(sweep, tmp_path):
    spec, reference, _ = sweep
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "hessianlab", "run", str(EXAMPLE), "--preset", "smoke", "--out", str(out),
           "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        statuses = [json.loads(f.read_text())["status"] for f in out.glob("runs/*/status.json")]
        if "finished" in statuses:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # orphaned workers notice the dead parent within 0.5 s and exit
    result = run_sweep(spec, out, workers=2)
    assert not result.failed
    assert _snapshot(out) == _snapshot(reference)


def test_failures_are_recorded_and_the_sweep_goes_on(tmp_path, capsys):
    spec = {
        "name": "fail", "base": {"dataset": "synthetic", "model": "mlp", "width": 0.05, "subset": 64,
                                 "test_subset": 32, "batch_size": 16, "target_loss": None, "max_epochs": 2},
        "sweep": {"lr": [0.1, 1.0e+12]},
        "analyses": [{"id": "ok", "kind": "eigs", "k": 1, "tol": 1e-2},
                     {"id": "bad", "kind": "eigs", "k": 1, "samples": 100000}],
        "presets": {"broken": {"base": {"model": "lenet5"}, "sweep": {"lr": [0.1]}}},
    }
    file = tmp_path / "fail.yaml"
    file.write_text(yaml.safe_dump(spec))
    assert main(["run", str(file), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())["runs"]
    fine, diverged = (summary[name] for name in sorted(summary, key=lambda n: n.startswith("lr=1")))
    assert fine["status"] == "finished" and fine["analyses"]["ok"] == "done"
    assert fine["analyses"]["bad"].startswith("failed: ConfigError: samples=100000")
    assert diverged["status"] == "diverged" and diverged["analyses"]["ok"] == "skipped: run diverged"
    assert main(["run", str(file), "--preset", "broken", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    (run,) = json.loads((tmp_path / "b" / "summary.json").read_text())["runs"].values()
    assert run["status"] == "failed" and "lenet5" in run["reason"]
    (folder,) = (tmp_path / "b" / "runs").glob("lr=*")
    assert json.loads((folder / "status.json").read_text())["status"] == "failed"
    assert "failed" in capsys.readouterr().out
    assert main(["run", str(file), "--preset", "nope"]) == 2
