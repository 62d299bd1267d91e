"""``hessianlab plan``: the plan's counts against what a small sweep really counts, the cost model, the CLI."""

from __future__ import annotations

import json

import pytest

from hessianlab.cli import main
from hessianlab.commands.reproduce import spec_paths
from hessianlab.experiments import calibration as cal
from hessianlab.experiments.plan import Counts, plan_jobs
from hessianlab.experiments.runner import run_sweep
from hessianlab.experiments.spec import load_spec, parse_spec

SPEC = {
    "name": "plan-check",
    "base": {"dataset": "synthetic", "model": "mlp", "width": 0.05, "subset": 48, "test_subset": 24, "lr": 0.05,
             "target_loss": None, "max_epochs": 3, "track_lambda1": 16},
    "sweep": {"zip": [{"batch_size": [16, 8, 10], "batch_schedule": ["constant", "constant", "constant"],
                       "adversarial": [None, "fgsm", None], "lr_schedule": ["constant", "constant", "step:1:0.5"]}]},
    "analyses": [{"id": "eigs", "kind": "eigs", "k": 2, "samples": 32, "tol": 1e-3},
                 {"id": "fgsm", "kind": "attack", "methods": ["fgsm"], "eps": [0.02, 0.01], "splits": ["train", "test"]}],
}


@pytest.fixture(scope="module")
def planned_and_run(tmp_path_factory):
    data = json.loads(json.dumps(SPEC))
    data["sweep"]["zip"][0]["batch_schedule"][2] = "smith:40"  # GG: the batch grows at every decay of the LR
    spec = parse_spec(data)
    out = tmp_path_factory.mktemp("plan") / "sweep"
    run_sweep(spec, out)
    return spec, plan_jobs(spec), out


def test_plan_counts_equal_what_the_runs_count(planned_and_run) -> None:
    spec, jobs, out = planned_and_run
    assert [(j.run, j.stage) for j in jobs] == [(p.name, s) for p in spec.expand() for s in ("train", "eigs", "fgsm")]
    for job in jobs:
        folder = out / "runs" / job.run
        metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        results = json.loads((folder / "results.json").read_text())
        c = job.counts
        if job.stage == "train":
            assert c.train_samples == metrics[-1]["samples_seen"] == 48 * 3
            assert c.updates == metrics[-1]["updates"]
            assert c.eval_samples == (48 + 24) * 3
            config = json.loads((folder / "config.json").read_text())["config"]
            assert c.attack_steps == (48 * 3 if config["adversarial"] == "fgsm" else 0)
            actual = sum(m["lambda1_matvecs"] for m in metrics) * 16  # track_lambda1 on 16 samples per epoch
            assert actual / 3 <= c.hessian_products <= actual * 3
        elif job.stage == "eigs":
            (entry,) = results["eigs"].values()
            actual = entry["num_matvecs"] * 32
            assert actual / 3 <= c.hessian_products <= actual * 3  # the assumed Lanczos length is within 3x
        else:
            sizes = sum(entry["num_samples"] for entry in results["attack"].values())
            assert c.attack_steps == sizes * 2  # one gradient per sample and radius
    smith = [j for j in jobs if j.stage == "train" and "smith" in j.run][0]
    assert smith.counts.updates == 48 // 10 + 1 + 48 // 20 + 1 + 48 // 40 + 1  # B = 10, 20, 40


def test_assumed_device_time_follows_flops() -> None:
    job = plan_jobs(load_spec(spec_paths()["example-batch-sweep"], "smoke"))[0]
    flops = cal.forward_flops(job)
    assert flops > 0
    one = Counts(train_samples=1)
    assert cal.assumed_seconds(one, flops) == pytest.approx(3 * flops / cal.ASSUMED_FLOPS)
    costs = {"train": 2.0, "eval": 1.0, "hvp": 5.0, "attack": 3.0}
    assert cal.seconds(Counts(1, 7, 2, 3, 4, 5), costs) == 2.0 + 2 * 1.0 + (3 + 4) * 5.0 + 5 * 3.0


def test_plan_cli_calibrates_and_writes_json(tmp_path, capsys) -> None:
    file, report = tmp_path / "cal.json", tmp_path / "plan.json"
    argv = ["plan", "example-batch-sweep", "--preset", "smoke", "--calibrate", "--calibration", str(file),
            "--device", "cpu", "--json", str(report)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    kind = next(iter(json.loads(file.read_text())["devices"]))
    assert kind.startswith("cpu (") and f"h {kind}" in out and "example-batch-sweep" in out
    study = json.loads(report.read_text())["studies"]["example-batch-sweep"]
    assert study["runs"] == 3 and len(study["jobs"]) == 3 * 8
    assert study["hours"][kind] > 0 and study["hours"][cal.ASSUMED_DEVICE] > 0
    assert study["total"]["train_samples"] == sum(j["train_samples"] for j in study["jobs"])


def test_plan_all_paper_presets_totals(tmp_path, capsys) -> None:
    assert main(["plan", "all", "--preset", "paper", "--calibration", str(tmp_path / "none.json")]) == 0
    out = capsys.readouterr().out
    assert "yao-batch-sweep" in out and "absa-logistic" in out and "no calibration" in out


def test_plan_of_a_bad_spec_is_one_line(tmp_path, capsys) -> None:
    assert main(["plan", str(tmp_path / "missing.yaml")]) == 2
    assert "spec file not found" in capsys.readouterr().err
