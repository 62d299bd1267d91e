"""Flags shared by ``hessianlab run`` and ``hessianlab reproduce``: ``--executor`` and its resources (see
:mod:`hessianlab.experiments.execution`; a flag given overrides the spec's ``execution:`` field) and the
truncation ``--limit-samples`` / ``--limit-epochs`` (see :mod:`hessianlab.experiments.limits`)."""

from __future__ import annotations

import argparse

from hessianlab.device import resolve_device
from hessianlab.experiments.execution import Execution, resolve
from hessianlab.experiments.spec import Spec

# flag -> (execution field, type, help)
_FLAGS = {
    "--cpus-per-job": ("cpus", int, "CPU cores (and torch threads) per job"),
    "--gpus-per-job": ("gpus", float, "GPUs per job (Ray resources; Slurm gpus per node)"),
    "--mem-gb": ("mem_gb", float, "memory per Slurm job in GB"),
    "--time-min": ("time_min", int, "wall-clock limit per Slurm job in minutes"),
    "--partition": ("partition", str, "Slurm partition"),
    "--account": ("account", str, "Slurm account"),
    "--qos": ("qos", str, "Slurm quality of service"),
    "--constraint": ("constraint", str, "Slurm node constraint (e.g. a GPU type)"),
    "--array-parallelism": ("array_parallelism", int, "Slurm: jobs of one array running at a time"),
    "--retries": ("retries", int, "Ray: re-runs of a task whose worker died"),
}


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """``--limit-samples N`` and ``--limit-epochs E`` (see :mod:`hessianlab.experiments.limits`)."""
    parser.add_argument("--limit-samples", type=int, default=None, metavar="N",
                        help="truncate every run and analysis to at most N samples (a tiny end-to-end check)")
    parser.add_argument("--limit-epochs", type=int, default=None, metavar="E", help="stop every run after E epochs")


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor local|ray[:ADDRESS]|slurm[:local]``, the per-job resource flags and the limits."""
    add_limit_arguments(parser)
    parser.add_argument("--executor", default=None,
                        help="where jobs run: local (process pool, default), ray (a private Ray instance), "
                             "ray:ADDRESS (a Ray cluster, e.g. ray:auto), slurm (submitit), slurm:local")
    group = parser.add_argument_group("executor resources (override the spec's execution: block)")
    for flag, (_, kind, text) in _FLAGS.items():
        group.add_argument(flag, type=kind, default=None, help=text)


def execution_from_args(args: argparse.Namespace, block: dict | None) -> Execution:
    """The spec's ``execution:`` block with the flags given on top (one-line ConfigError when invalid)."""
    overrides = {field: getattr(args, flag[2:].replace("-", "_")) for flag, (field, _, _) in _FLAGS.items()}
    return resolve(block, {"executor": args.executor, **overrides})


def driver_device(args: argparse.Namespace, execution: Execution) -> str | None:
    """The device string jobs get: resolved (and checked) here for local jobs, passed on for remote ones."""
    return args.device if execution.remote else str(resolve_device(args.device))


def limited(args: argparse.Namespace, spec: Spec) -> Spec:
    """``spec`` truncated by ``--limit-samples`` / ``--limit-epochs`` (unchanged without them)."""
    if args.limit_samples is None and args.limit_epochs is None:
        return spec
    return spec.limited(samples=args.limit_samples, epochs=args.limit_epochs)
