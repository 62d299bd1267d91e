"""Runner features of the spec schema: init_from ordering and weights, blocked chains, per-run analyses
(``where``), no self-transfer copies, and result keys that recompute exactly when a setting changes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

from hessianlab import atomic
from hessianlab.experiments.pool import Pool
from hessianlab.experiments.runner import run_sweep
from hessianlab.experiments.spec import parse_spec
from hessianlab.experiments.store import RunDir
from hessianlab.training.factory import model_from_config

BASE = {"dataset": "synthetic", "model": "mlp", "width": 0.05, "subset": 64, "test_subset": 32, "batch_size": 16,
        "lr": 0.1, "momentum": 0.0, "target_loss": None, "max_epochs": 2}


def _spec(sweep: dict, analyses: list | None = None) -> dict:
    return {"name": "t", "base": dict(BASE), "sweep": sweep, "analyses": analyses or []}


def _gate(args, source):
    return None if source["status"] == "finished" else {"name": args[0], "status": "failed"}


def test_pool_holds_a_job_until_its_source_returns_and_blocks_chains():
    def run(results):
        calls = []

        def fn(name):
            calls.append(name)
            return {"name": name, "status": results.get(name, "finished")}

        args = [("c",), ("b",), ("a",), ("d",)]  # c after b after a; d waits for a job that is not there
        out = list(Pool(1).map(fn, args, after={"c": "b", "b": "a", "d": "x"}, gate=_gate))
        return calls, [(o["name"], o["status"]) for o in out]

    assert run({}) == (["a", "d", "b", "c"], [("a", "finished"), ("d", "finished"), ("b", "finished"),
                                              ("c", "finished")])
    calls, out = run({"a": "diverged"})
    assert calls == ["a", "d"] and out == [("a", "diverged"), ("b", "failed"), ("c", "failed"), ("d", "finished")]


def test_dependent_run_starts_from_the_final_weights_of_its_source(tmp_path):
    # listed first in the grid, the dependent must still wait (2 workers); with lr ~ 0 it ends where it started
    spec = parse_spec(_spec({"zip": [{"lr": [1e-12, 0.1], "init_from": [{"lr": 0.1}, None], "max_epochs": [1, 2]}]}))
    dependent, source = spec.expand()
    result = run_sweep(spec, tmp_path, workers=2)
    assert not result.failed and [r.status for r in result.runs] == ["finished", "finished"]
    runs = tmp_path / "runs"
    config = json.loads((runs / dependent.name / "config.json").read_text())
    assert config["config"]["init_from"] == str((runs / source.name).resolve())
    start = atomic.load_tensors(runs / source.name / "model.pt")
    end = atomic.load_tensors(runs / dependent.name / "model.pt")
    assert all(torch.allclose(start[k], end[k], atol=1e-8) for k in start)
    fresh = RunDir.open(runs / dependent.name)  # without init_from it would have ended at its seed's init
    init = model_from_config(fresh.train_config, fresh.data_meta, seed=0).state_dict()
    assert max(float((init[k] - end[k]).abs().max()) for k in init) > 1e-3
    assert run_sweep(spec, tmp_path).trained == 0


def test_a_diverged_source_blocks_its_chain(tmp_path):
    spec = parse_spec(_spec({"zip": [{"lr": [1e12, 0.1, 0.05], "init_from": [None, {"lr": 1e12}, {"lr": 0.1}]}]}))
    names = [p.name for p in spec.expand()]
    for attempt in range(2):  # the second time the diverged source comes from the first invocation
        runs = run_sweep(spec, tmp_path).runs
        assert runs[0].status == "diverged"
        assert (runs[1].status, runs[1].reason) == ("failed", f"init_from run {names[0]} is diverged; not trained")
        assert (runs[2].status, runs[2].reason) == ("failed", f"init_from run {names[1]} is failed; not trained")
        assert not (tmp_path / "runs" / names[1]).exists() and not (tmp_path / "runs" / names[2]).exists()


ANALYSES = [
    {"id": "eigs", "kind": "eigs", "k": 1, "samples": 32, "tol": 1e-2},
    {"id": "input", "kind": "input_stats", "samples": 8, "tol": 1e-2},
    {"id": "pgd", "kind": "attack", "methods": ["pgd"], "eps": [0.1], "steps": 2, "samples": 16},
    {"id": "line", "kind": "landscape", "points": 3, "samples": 32, "eval_samples": 16, "tol": 1e-2,
     "splits": ["train"]},
    {"id": "transfer", "kind": "attack", "methods": ["fgsm"], "eps": [0.1], "samples": 16,
     "source": {"batch_size": 16}},
    {"id": "interp", "kind": "landscape", "type": "interpolate", "target": {"batch_size": 16}, "points": 3,
     "splits": ["test"], "where": {"batch_size": 32}},
]


def _analysed(data: dict, out: Path) -> dict[str, set[str]]:
    """Run the sweep; per run, the analysis ids it computed now."""
    events = []
    run_sweep(parse_spec(data), out, on_event=events.append)
    return {e["name"].split("-")[0]: set(e["analyses"]) for e in events if e["stage"] == "analyse"}


def test_where_self_selection_and_result_keys(tmp_path):
    data = _spec({"batch_size": [16, 32]}, copy.deepcopy(ANALYSES))
    first = run_sweep(parse_spec(data), tmp_path)
    small, large = first.runs
    assert small.analyses["transfer"] == "done"  # its own D_attack is the white-box attack: stored once as such
    assert small.analyses["interp"] == "skipped: not selected by its where"
    assert large.analyses == {a["id"]: "done" for a in ANALYSES}
    results = {r.name: json.loads((tmp_path / "runs" / r.name / "results.json").read_text()) for r in first.runs}
    assert [k for k in results[small.name]["attack"] if "from:" in k] == []
    assert "fgsm/test/eps=0.1/samples=16" in results[small.name]["attack"]
    assert [k.split("/from:")[1] for k in results[large.name]["attack"] if "from:" in k] == [small.name]
    assert list(results[small.name]["landscape"]) == ["line/train/radius=1.0/points=3/samples=32/seed=0/tol=0.01/eval=16"]
    assert _analysed(data, tmp_path) == {}  # same settings: every stored result is reused
    changes = [("eigs", "tol", 1e-3), ("input", "tol", 1e-3), ("pgd", "steps", 3), ("pgd", "eps", [0.05]),
               ("pgd", "samples", 8), ("line", "eval_samples", 8), ("line", "tol", 1e-3)]
    for aid, name, value in changes:
        index = next(i for i, a in enumerate(data["analyses"]) if a["id"] == aid)
        data["analyses"][index][name] = value
        assert _analysed(data, tmp_path) == {"batch_size=16": {aid}, "batch_size=32": {aid}}, (aid, name)
        assert _analysed(data, tmp_path) == {}
    stored = json.loads((tmp_path / "runs" / small.name / "results.json").read_text())
    assert len(stored["eigs"]) == 2 and len(stored["input_stats"]) == 2 and len(stored["attack"]) == 5  # 4 pgd + fgsm
