"""Tiny benchmark harness: alternate candidates in one process, report medians and ratios, write JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch


def alternate(candidates: dict[str, Callable[[], Any]], *, repeats: int = 5, warmup: int = 1,
              clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Run every candidate ``warmup`` times, then ``repeats`` rounds alternating them; seconds per call on
    ``clock`` (wall time by default; ``time.process_time`` gives this process's CPU time, which other load
    on a shared machine disturbs far less)."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def environment() -> dict[str, Any]:
    """Machine facts recorded beside every benchmark result."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count()}


def write_result(out_dir: Path, name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the environment) to ``out_dir/name.json``; returns the path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"benchmark": name, "environment": environment(), **payload}, indent=2) + "\n")
    os.replace(tmp, path)
    return path
