"""``hessianlab simulate-time``: simulated distributed training time (ABSA Appendix C, Table 3).

``--paper-table3`` reproduces the paper's table from its own inputs (printed values shown beside ours);
``--runs RUN_DIR...`` simulates stored runs on ``--procs`` processes, with ``|θ|`` from ``--params`` or the
run's model, ``T_comp``/``T_Hess`` measured from the run unless ``--t-comp``/``--t-hess`` are given. In the
paper mode, ``--procs``, ``--params`` or a network flag recompute ``T_comm`` by eq. (14) instead of the
printed 1.5E-2 s. ``--json FILE`` writes the results atomically.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hessianlab.table import format_table

if TYPE_CHECKING:
    from hessianlab.simulate import MethodCosts, Network

_COLUMNS = ["method", "updates", "t_comp_s", "t_comm_s", "t_hess_s", "n_hess", "total_s", "speedup"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("simulate-time", help="simulated distributed training time (ABSA Table 3)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--paper-table3", action="store_true", help="the paper's inputs (ResNet-18, ImageNet, p=512)")
    what.add_argument("--runs", nargs="+", type=Path, metavar="RUN_DIR", help="stored training runs")
    parser.add_argument("--procs", type=int, default=None, help="number of processes p (required with --runs)")
    parser.add_argument("--params", type=int, default=None, help="|θ|, parameters (default: the run's model)")
    parser.add_argument("--t-comp", type=float, default=None, help="seconds of computation per update, all methods")
    parser.add_argument("--t-hess", type=float, default=None, help="seconds per Hessian computation, all methods")
    parser.add_argument("--latency", type=float, default=None, help="α in seconds (default 2e-6)")
    parser.add_argument("--bandwidth", type=float, default=None, help="1/β in bytes per second (default 6e9)")
    parser.add_argument("--bytes-per-param", type=int, default=None, help="bytes per parameter (default 4)")
    parser.add_argument("--baseline", default=None, help="method the speed-ups refer to (default: the first)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the results as JSON")
    parser.set_defaults(func=_run)


def _network(args: argparse.Namespace, default: Network) -> Network:
    fields = {"latency_s": args.latency, "bandwidth_bytes_per_s": args.bandwidth,
              "bytes_per_param": args.bytes_per_param}
    return replace(default, **{k: v for k, v in fields.items() if v is not None})


def _override(costs: MethodCosts, args: argparse.Namespace) -> MethodCosts:
    changes = {k: v for k, v in (("t_comp", args.t_comp), ("t_hess", args.t_hess)) if v is not None}
    return replace(costs, **changes) if changes else costs


def _paper(args: argparse.Namespace) -> tuple[list[MethodCosts], dict[str, Any], list[str]]:
    from hessianlab.simulate import allreduce_seconds, load_absa_table3

    table = load_absa_table3()
    network = _network(args, table.network)
    procs = table.procs if args.procs is None else args.procs
    params = table.params if args.params is None else args.params
    eq14 = allreduce_seconds(params, procs, network)
    eq16 = allreduce_seconds(params, procs, network, simplified=True)
    recompute = network != table.network or procs != table.procs or params != table.params
    methods = [_override(replace(m, t_comm=eq14) if recompute else m, args) for m in table.methods]
    printed = {r.name: {"paper_total_s": r.total_s, "paper_speedup": r.speedup} for r in table.printed}
    lines = [f"T_comm by eq. (14) for |θ| = {params:,} x {network.bytes_per_param} B at p = {procs}, "
             f"{network.bandwidth_bytes_per_s:.3g} B/s: {eq14:.5f} s (eq. 16: {eq16:.5f} s); "
             + ("used above" if recompute else "the table uses the printed 1.5E-2 s"),
             f"source: {table.source}", *(f"note: {n}" for n in table.notes)]
    setup = {"procs": procs, "params": params, "network": asdict(network), "source": table.source,
             "printed": printed}
    return methods, setup, lines


def _runs(args: argparse.Namespace) -> tuple[list[MethodCosts], dict[str, Any], list[str]]:
    from hessianlab.errors import ConfigError
    from hessianlab.simulate import Network, costs_from_run

    if args.procs is None:
        raise ConfigError("--runs needs --procs P, the number of processes to simulate")
    network = _network(args, Network())
    methods = [costs_from_run(path, args.procs, network=network, params=args.params, t_comp=args.t_comp,
                              t_hess=args.t_hess) for path in args.runs]
    lines = [f"source: {m.source}" for m in methods]
    return methods, {"procs": args.procs, "params": args.params, "network": asdict(network)}, lines


def _printed_cells(printed: dict[str, Any] | None) -> dict[str, Any]:
    if printed is None:
        return {}
    speedup = printed["paper_speedup"]
    return {"paper_total_s": printed["paper_total_s"], "paper_speedup": None if speedup is None else f"{speedup:.2f}x"}


def _run(args: argparse.Namespace) -> int:
    from hessianlab import atomic
    from hessianlab.simulate import simulate

    methods, setup, lines = _paper(args) if args.paper_table3 else _runs(args)
    results = simulate(methods, baseline=args.baseline)
    baseline = args.baseline or methods[0].name
    printed = setup.get("printed", {})
    rows = [{"method": r.costs.name, "updates": r.costs.updates, "t_comp_s": r.costs.t_comp,
             "t_comm_s": r.costs.t_comm, "t_hess_s": r.costs.t_hess, "n_hess": r.costs.n_hess,
             "total_s": f"{r.total_s:.6g}", "speedup": f"{r.speedup:.2f}x", **_printed_cells(printed.get(r.costs.name))}
            for r in results]
    columns = _COLUMNS + (["paper_total_s", "paper_speedup"] if printed else [])
    print(format_table(rows, columns))
    print(f"speed-up = T_total({baseline}) / T_total; T_total = updates (T_comp + T_comm) + n_hess T_hess")
    for line in lines:
        print(line)
    if args.json is not None:
        atomic.write_json(args.json, {**setup, "baseline": baseline, "methods": [r.to_dict() for r in results]})
        print(f"wrote {args.json}")
    return 0
