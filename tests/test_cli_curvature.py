"""CLI curvature commands: eigs (--verify against the dense Hessian), input stats, trace, density."""

import json

import pytest

from hessianlab.cli import main

TRAIN = ["train", "--model", "mlp", "--dataset", "synthetic", "--subset", "96", "--test-subset", "32",
         "--batch-size", "16", "--lr", "0.1", "--no-target", "--max-epochs", "2", "--width", "0.05", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


def test_eigs_verify_matches_dense(run_dir, capsys):
    assert main(["eigs", str(run_dir), "--k", "5", "--tol", "1e-8", "--dtype", "float64", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "vs dense" in out
    results = json.loads((run_dir / "results.json").read_text())["eigs"]
    (entry,) = results.values()
    assert entry["converged"] and entry["k"] == 5
    assert entry["verify"]["max_relative_error"] < 1e-6


def test_eigs_block_and_negative(run_dir):
    assert main(["eigs", str(run_dir), "--k", "2", "--which", "SA", "--params", r"fc3\.", "--samples", "8"]) == 0
    results = json.loads((run_dir / "results.json").read_text())["eigs"]
    key = next(k for k in results if "params=" in k)
    settings = results[key]["operator_settings"]
    assert settings["samples"] == 8 and settings["sample_selection"] == "random"
    assert settings["params"] == ["fc3.weight", "fc3.bias"]
    assert results[key]["which"] == "SA"
    assert results[key]["eigenvalues"][0] <= results[key]["eigenvalues"][1]


def test_input_trace_density(run_dir):
    assert main(["eigs", str(run_dir), "--wrt", "input", "--split", "test"]) == 0
    assert main(["trace", str(run_dir), "--probes", "20"]) == 0
    assert main(["density", str(run_dir), "--probes", "2", "--steps", "20"]) == 0
    results = json.loads((run_dir / "results.json").read_text())
    (stats,) = results["input_stats"].values()
    assert stats["lambda1_x"]["mean"] >= 0
    (trace,) = results["trace"].values()
    assert trace["standard_error"] > 0
    assert "density" in results


def test_verify_refuses_large_models(tmp_path, capsys):
    out = tmp_path / "big"
    assert main([*TRAIN[:-3], "--width", "1", "--max-epochs", "1", "--quiet", "--out", str(out)]) == 0
    assert main(["eigs", str(out), "--k", "1", "--verify"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dense" in err[0].lower()
