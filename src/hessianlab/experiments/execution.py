"""Where a sweep's jobs run: the ``execution:`` block of a spec and the ``--executor`` flags of the CLI.

A spec (or one of its presets) may say how its jobs are to be placed::

    execution:
      executor: slurm          # local (default) | ray | ray:ADDRESS | slurm | slurm:local
      cpus: 8                  # CPU cores per job (Ray resources, Slurm cpus_per_task; torch threads)
      gpus: 1                  # GPUs per job (Ray resources, Slurm gpus_per_node)
      mem_gb: 32               # memory per job (Slurm)
      time_min: 720            # wall-clock limit per job in minutes (Slurm)
      partition: gpu           # Slurm partition, account, qos and constraint
      account: lab
      qos: normal
      constraint: a100
      array_parallelism: 64    # at most this many jobs of one Slurm job array at a time
      retries: 1               # Ray: re-runs of a task whose worker died (training resumes from its checkpoint)

Command-line flags override the spec field by field. ``ray:ADDRESS`` connects to a running Ray cluster
(``ray:auto`` for the one ``ray start`` announced on this machine); plain ``ray`` starts a private one in
this process. ``slurm:local`` runs the Slurm path (pickled jobs, submitit's job folders) as local
processes. Every mistake is a one-line :class:`~hessianlab.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from hessianlab.errors import ConfigError

KINDS = ("local", "ray", "slurm")
_TYPES: dict[str, tuple[type, ...]] = {
    "executor": (str,), "cpus": (int,), "gpus": (int, float), "mem_gb": (int, float), "time_min": (int,),
    "partition": (str,), "account": (str,), "qos": (str,), "constraint": (str,), "array_parallelism": (int,),
    "retries": (int,),
}
KEYS = tuple(_TYPES)


@dataclass(frozen=True)
class Execution:
    """How jobs are placed (see the module docstring); ``kind`` and ``address`` come from ``executor``."""

    kind: str = "local"
    address: str | None = None
    cpus: int = 1
    gpus: float = 0
    mem_gb: float | None = None
    time_min: int = 240
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    array_parallelism: int = 256
    retries: int = 1

    @property
    def remote(self) -> bool:
        """Whether jobs run outside this process's pool (the driver then writes the catalog for them)."""
        return self.kind != "local"

    def describe(self) -> str:
        """``kind[:address]`` as given on the command line."""
        return self.kind + (f":{self.address}" if self.address else "")


def parse_executor(value: str) -> tuple[str, str | None]:
    """``local`` | ``ray[:ADDRESS]`` | ``slurm[:local]`` -> ``(kind, address)``."""
    if not isinstance(value, str):
        raise ConfigError(f"executor: expected a string (local, ray, ray:ADDRESS or slurm), got {value!r}")
    kind, _, address = value.partition(":")
    if kind not in KINDS:
        raise ConfigError(f"executor: unknown executor {value!r}; choose local, ray, ray:ADDRESS (e.g. ray:auto "
                          "or ray:10.0.0.1:6379) or slurm")
    if kind == "local" and address:
        raise ConfigError(f"executor: {value!r} takes no address; use local")
    if kind == "slurm" and address not in ("", "local"):
        raise ConfigError(f"executor: {value!r}: slurm takes no address (slurm:local runs the jobs as local processes)")
    if ":" in value and not address:
        raise ConfigError(f"executor: {value!r} has an empty address; write ray:HOST:PORT, ray:auto or just ray")
    return kind, address or None


def check_block(block: Any, where: str = "execution") -> dict[str, Any]:
    """Validate a spec's ``execution:`` mapping (types and ranges); returns it as a plain dict."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ConfigError(f"{where}: expected a mapping of {', '.join(KEYS)}, got {block!r}")
    for key, value in block.items():
        if key not in _TYPES:
            raise ConfigError(f"{where}.{key}: unknown key; allowed: {', '.join(KEYS)}")
        types = _TYPES[key]
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join("a number" if t is float else {"int": "an integer", "str": "a string"}[t.__name__]
                                for t in types)
            raise ConfigError(f"{where}.{key}: expected {names}, got {value!r}")
        if key == "executor":
            parse_executor(value)
        elif isinstance(value, (int, float)) and (value < 0 or (value == 0 and key not in ("gpus", "retries"))):
            bound = ">= 0" if key in ("gpus", "retries") else "> 0"
            raise ConfigError(f"{where}.{key}: must be {bound}, got {value!r}")
    return dict(block)


def resolve(block: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None) -> Execution:
    """The :class:`Execution` of a spec's block with the non-``None`` ``overrides`` (CLI flags) on top."""
    merged = {**check_block(dict(block or {})),
              **check_block({k: v for k, v in (overrides or {}).items() if v is not None}, "--executor options")}
    executor = merged.pop("executor", "local")
    kind, address = parse_executor(executor)
    return dataclasses.replace(Execution(kind, address), **merged)
