"""CLI reliability: global flags anywhere, true Ctrl-C advice per command, error lines quote little input,
``runs`` finds nested catalogs, and the per-run lock (busy runs are skipped, a dead owner never blocks)."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hessianlab import cli
from hessianlab.errorline import QUOTE_LIMIT, error_line, one_line
from hessianlab.experiments import jobs
from hessianlab.experiments.lock import LOCK, RunBusy, run_lock

TINY = ["--model", "mlp", "--dataset", "digits", "--width", "0.25", "--batch-size", "64", "--lr", "0.1",
        "--no-target", "--max-epochs", "1", "--quiet"]


def test_global_flags_after_the_sub_command(tmp_path, monkeypatch):
    monkeypatch.delenv("HESSIANLAB_DATA", raising=False)
    parser = cli.build_parser()
    before = parser.parse_args(["--data-dir", "A", "--threads", "2", "-v", "datasets"])
    after = parser.parse_args(["datasets", "--data-dir", "A", "--threads", "2", "-v"])
    neither = parser.parse_args(["datasets"])
    for args in (before, after):
        assert (args.data_dir, args.threads, args.verbose) == ("A", 2, True)
    assert (neither.data_dir, neither.threads, neither.verbose) == (None, None, False)
    assert parser.parse_args(["--data-dir", "A", "datasets"]).data_dir == "A"  # not reset by the sub-command


@pytest.mark.parametrize("command,advice", [("train", "--resume"), ("run", "rerun the same command to continue"),
                                            ("reproduce", "rerun the same command to continue"),
                                            ("compare-batch", "rerun the same command to continue"),
                                            ("eigs", "not stored; rerun it"), ("attack", "not stored; rerun it")])
def test_ctrl_c_advice_is_true_per_command(command, advice, monkeypatch, capsys):
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    real = cli.build_parser

    def patched():
        parser = real()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[command].set_defaults(func=interrupted)
        return parser

    monkeypatch.setattr(cli, "build_parser", patched)
    argv = {"train": ["train", "--out", "x"], "run": ["run", "s.yaml"],
            "reproduce": ["reproduce", "all", "--preset", "quick"],
            "compare-batch": ["compare-batch", "--out", "x"], "eigs": ["eigs", "r"], "attack": ["attack", "r"]}[command]
    assert cli.main(argv) == 130
    line = capsys.readouterr().err.strip()
    assert advice in line and "\n" not in line
    if command != "train":
        assert "--resume" not in line  # those commands reject --resume


def test_one_line_cuts_long_quoted_input():
    message = f"spec: expected a mapping, got {'a' * 50_000!r}; fix the spec"
    line = one_line(message)
    assert len(line) < QUOTE_LIMIT + 100 and line.endswith("; fix the spec") and "50,000 characters" in line
    assert one_line("two\nlines") == "two lines"
    assert len(one_line("x" * 100_000)) <= 1010
    assert error_line(RuntimeError("a bug")) is None  # bugs keep their traceback


def test_runs_finds_nested_catalogs(tmp_path, capsys):
    out = tmp_path / "runs" / "reproduce" / "quick" / "study" / "runs" / "b64"
    assert cli.main(["train", *TINY, "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["runs", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out
    assert "reproduce/quick/study/runs/b64" in table and "finished" in table
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["runs", str(empty)]) == 0
    assert "--reindex" in capsys.readouterr().out


def test_lock_refuses_a_second_holder_and_frees_on_exit(tmp_path):
    with run_lock(tmp_path / "r"):
        with pytest.raises(RunBusy, match=f"pid {os.getpid()}"):
            with run_lock(tmp_path / "r"):
                pass
    with run_lock(tmp_path / "r"):  # free again
        pass


def test_lock_of_a_killed_process_does_not_block(tmp_path):
    folder = tmp_path / "r"
    code = ("import sys, time; from hessianlab.experiments.lock import run_lock\n"
            f"with run_lock({str(folder)!r}):\n    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunBusy, match=f"pid {holder.pid}"):
            with run_lock(folder):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (folder / LOCK).exists()  # the stale file stays; the kernel released the lock
    deadline = time.monotonic() + 10
    with run_lock(folder):
        assert time.monotonic() < deadline


def test_sweep_skips_a_run_another_process_trains(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: t\nbase: {model: mlp, dataset: digits, width: 0.25, target_loss: null, max_epochs: 1}\n"
                    "sweep: {batch_size: [64, 128]}\nanalyses:\n  - {id: eigs, kind: eigs, k: 1, samples: 16}\n")
    out = tmp_path / "sweep"
    from hessianlab.experiments.runner import run_sweep
    from hessianlab.experiments.spec import load_spec

    small, large = (p.name for p in load_spec(spec).expand())
    with run_lock(out / "runs" / small):
        result = run_sweep(load_spec(spec), out)
    by_name = {r.name: r for r in result.runs}
    assert by_name[small].status == "busy" and "in use" in by_name[small].reason
    assert by_name[large].status == "finished"
    assert by_name[small].analyses["eigs"].startswith("skipped")
    again = run_sweep(load_spec(spec), out)  # the lock is free: the rerun trains and analyses it
    assert {r.name: r.status for r in again.runs} == {small: "finished", large: "finished"}
    assert again.trained == 1 and all(v == "done" for r in again.runs for v in r.analyses.values())


def test_analysis_job_of_a_busy_run_is_skipped(tmp_path):
    with run_lock(tmp_path / "r"):
        outcome = jobs.analysis_job("r", str(tmp_path / "r"), [("eigs", "eigs", {})], None)
    assert outcome["analyses"]["eigs"].startswith("skipped: busy")


def _add_results(folder: str, worker: int) -> None:
    from hessianlab.experiments.store import RunDir

    run = RunDir.open(Path(folder))
    for i in range(15):
        run.write_result("test", f"w{worker}/{i}", {"value": i})


def test_concurrent_result_merges_lose_nothing(tmp_path):
    out = tmp_path / "runs" / "r"
    assert cli.main(["train", *TINY, "--out", str(out)]) == 0
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_add_results, args=(str(out), w)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0]
    stored = json.loads((out / "results.json").read_text())["test"]
    assert sorted(stored) == sorted(f"w{w}/{i}" for w in range(3) for i in range(15))
