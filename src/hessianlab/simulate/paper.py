"""ABSA Table 3 (simulated training time of ResNet-18 on ImageNet at 512 processes) from the paper's inputs.

The inputs live in ``absa_table3.json`` beside this module, each with its source: the setup (dataset size,
epochs, processes, model size, network), per method the printed ``T_comp``, ``T_comm``, ``T_Hess``, the
number of Hessian computations (90, one per epoch), and either a batch-size schedule (BL, GG: updates are
counted with :mod:`hessianlab.simulate.counts`) or an update count (ABS, ABSA: derived from the printed
totals, since no count the paper prints reproduces them). ``printed`` holds the table as printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from hessianlab.simulate.cost import MethodCosts, Network
from hessianlab.simulate.counts import count_updates, step_schedule

__all__ = ["PaperTable3", "PrintedRow", "load_absa_table3"]


@dataclass(frozen=True)
class PrintedRow:
    """One row of Table 3 as printed: total seconds (to ``total_resolution`` s) and speed-up over BL."""

    name: str
    total_s: float
    total_resolution: float
    speedup: float | None


@dataclass(frozen=True)
class PaperTable3:
    """The paper's inputs and printed results.

    Attributes:
        methods: BL, GG, ABS, ABSA costs with the printed per-update seconds.
        network: α, bandwidth and bytes per parameter that reproduce the printed ``T_comm``.
        procs: p = 512.
        params: |θ| of ResNet-18 for 1000 classes.
        printed: the table's totals and speed-ups.
        source: the citation.
        notes: source notes of the setup (dataset size, model size, network units).
    """

    methods: tuple[MethodCosts, ...]
    network: Network
    procs: int
    params: int
    printed: tuple[PrintedRow, ...]
    source: str
    notes: tuple[str, ...]


def _method(entry: dict[str, Any], setup: dict[str, Any]) -> MethodCosts:
    if "updates" in entry:
        updates = int(entry["updates"])
    else:
        sizes = step_schedule(entry["batch_size"], setup["epochs"], entry["milestones"], entry["factor"])
        updates = count_updates(setup["dataset_size"], sizes)
    return MethodCosts(name=entry["name"], updates=updates, t_comp=entry["t_comp"], t_comm=entry["t_comm"],
                       t_hess=entry["t_hess"], n_hess=entry["n_hess"], source=entry["source"])


def load_absa_table3() -> PaperTable3:
    """Read ``absa_table3.json`` (package data) into a :class:`PaperTable3`."""
    raw = json.loads(resources.files(__package__).joinpath("absa_table3.json").read_text(encoding="utf-8"))
    setup = raw["setup"]
    network = Network(latency_s=setup["latency_s"], bandwidth_bytes_per_s=setup["bandwidth_bytes_per_s"],
                      bytes_per_param=setup["bytes_per_param"])
    printed = tuple(PrintedRow(r["name"], r["total_s"], r["total_resolution"], r["speedup"])
                    for r in raw["printed"]["rows"])
    notes = (setup["dataset_size_source"], setup["params_source"], setup["network_source"], raw["printed"]["note"])
    return PaperTable3(methods=tuple(_method(m, setup) for m in raw["methods"]), network=network,
                       procs=setup["procs"], params=setup["params"], printed=printed, source=raw["source"],
                       notes=notes)
