"""Every study's paper preset end to end at tiny size (``make test-paper``; too slow for ``make test`` and CI).

The whole pipeline of each paper preset (its models, input shapes, class counts, schedules, analyses, report,
claims and reference tables) runs through ``hessianlab reproduce STUDY --preset paper --limit-samples 10
--limit-epochs 1`` on generated files in the official formats (MNIST / Fashion-MNIST IDX, the CIFAR-10 and
CIFAR-100 python tarballs, SVHN .mat). The truncation is checked to change nothing but sample counts and
epochs; the ResNet-18 studies take the longest (ABS eigen-solves on an 11M-parameter model).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from datafiles import cifar_members, make_idx_folder, write_svhn, write_tar

import hessianlab.data.registry as registry
from hessianlab.cli import main
from hessianlab.commands.reproduce import spec_paths, study_names
from hessianlab.experiments.limits import limit_config
from hessianlab.experiments.plan import OFFICIAL
from hessianlab.experiments.spec import load_spec
from hessianlab.report.reference import paper_tables

pytestmark = pytest.mark.paper
LIMIT = 10
WORKERS = min(2, os.cpu_count() or 1)  # runs in parallel, as `make reproduce` does; results do not depend on it
GENERATED = ("mnist", "fashion-mnist", "cifar10", "cifar100", "svhn")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Tiny files in the official formats, with at least ``LIMIT`` samples per split."""
    root = tmp_path_factory.mktemp("data")
    make_idx_folder(root / "mnist", n_train=40, n_test=20)
    make_idx_folder(root / "fashion-mnist", n_train=40, n_test=20, seed=1)
    for variant, folder, per_batch in (("cifar10", "cifar-10-batches-py", 12), ("cifar100", "cifar-100-python", 40)):
        members, _ = cifar_members(variant, n_per_batch=per_batch)
        write_tar(root / variant / f"{folder.replace('-batches-py', '-python')}.tar.gz", folder, members)
    write_svhn(root / "svhn" / "train_32x32.mat", 40)
    write_svhn(root / "svhn" / "test_32x32.mat", 20, seed=1)
    return root


@pytest.fixture(autouse=True)
def only_generated_data(data_dir, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HESSIANLAB_DATA", str(data_dir))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(registry, "SYSTEM_DIRS", (tmp_path / "no-system-datasets",))


@pytest.mark.parametrize("study", study_names())
def test_paper_preset_end_to_end_at_tiny_size(study: str, tmp_path: Path, capsys) -> None:
    full = load_spec(spec_paths()[study], "paper")
    limited = full.limited(samples=LIMIT, epochs=1)
    datasets = {p.config.dataset for p in full.expand()}
    assert datasets <= set(GENERATED) | {"breast-cancer", "digits", "mnist1d"}, datasets
    for plan, tiny in zip(full.expand(), limited.expand()):  # the truncation changes nothing else
        assert tiny.point == plan.point
        assert dataclasses.replace(tiny.config, init_from=None) == dataclasses.replace(
            limit_config(plan.config, {"samples": LIMIT, "epochs": 1}), init_from=None)
    out = tmp_path / "out"
    argv = ["reproduce", study, "--preset", "paper", "--limit-samples", str(LIMIT), "--limit-epochs", "1",
            "--out", str(out), "--quiet", "--workers", str(WORKERS)]
    assert main(argv) == 0, capsys.readouterr().err
    folder = out / full.output
    summary = json.loads((folder / "summary.json").read_text())["runs"]
    assert len(summary) == len(full.expand())
    for name, run in summary.items():
        assert run["status"] == "finished", (name, run)
        assert all(v == "done" or v.startswith("skipped: not selected") or v.startswith("skipped: its selector")
                   for v in run["analyses"].values()), (name, run["analyses"])
        meta = json.loads((folder / "runs" / name / "config.json").read_text())["data_meta"]
        config = json.loads((folder / "runs" / name / "config.json").read_text())["config"]
        if config["dataset"] in OFFICIAL:  # the paper's input shape and class count
            _, _, shape, classes = OFFICIAL[config["dataset"]]
            assert tuple(meta["shape"]) == shape and len(meta["classes"]) == classes
    report = (folder / "report" / "report.md").read_text()
    assert (folder / "report" / "report.html").is_file()
    for table in paper_tables(list(full.reference)):
        assert table.caption[:30] in report, table.key
    index = (out / "index.md").read_text()
    for claim in full.claims:
        assert claim.get("statement", claim["id"]) in index
