"""The training-time model of Yao et al. (2018, ABSA), Appendix C.

Per SGD update, ``p`` processes compute a forward/backward pass (``T_comp``) and all-reduce the gradient
with the ring algorithm (Thakur et al. 2005), eq. (14)::

    T_comm = 2 (α log2(p) + β (p - 1) / p |θ|)

and for large ``p`` and small latency the simplified eq. (16): ``T_comm = 2 β |θ|``. The whole run costs::

    T_total = updates · (T_comp + T_comm) + n_Hess · T_Hess

with ``T_Hess`` the seconds of one complete Hessian eigenvalue computation (communication included).

Units. The paper states ``|θ|`` "in bits" and ``β = 1 / (6 Gb/s)``; for ResNet-18 (11,689,512 float32
parameters, 374 Mbit) that gives 0.125 s, eight times the 1.5E-2 s of its Table 3. Reading both in *bytes*
(46.8 MB at 6 GB/s) gives 0.0156 s, which the table prints, truncated, as 1.5E-2. So :class:`Network` takes
the message size in bytes per parameter and the bandwidth in bytes per second, and its defaults are the
reading that reproduces Table 3. At ``p = 512`` the latency term (2 · 2 µs · 9 = 36 µs) and the ``(p-1)/p``
factor change ``T_comm`` by 0.04 %, so eqs. (14) and (16) agree to the table's precision.

Eq. (14) is implemented as printed. Its latency term ``α log2(p)`` is that of a recursive-doubling
all-reduce; a pure ring sends ``2 (p - 1)`` messages, whose ``2 (p - 1) α`` (2.0 ms at p = 512) would raise
``T_comm`` to 0.0176 s. Either way the bandwidth term dominates for ResNet-18.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hessianlab.errors import ConfigError

__all__ = ["DEFAULT_NETWORK", "MethodCosts", "Network", "SimulatedTime", "allreduce_seconds", "simulate"]


def _check_nonnegative(what: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{what} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class Network:
    """Interconnect of the ring all-reduce.

    Attributes:
        latency_s: α, seconds per message (paper: 2 µs, NERSC Cori).
        bandwidth_bytes_per_s: 1 / β in bytes per second (paper: "6 Gb/s"; 6e9 *bytes*/s reproduces Table 3).
        bytes_per_param: bytes sent per parameter (4 for float32 gradients).
    """

    latency_s: float = 2e-6
    bandwidth_bytes_per_s: float = 6e9
    bytes_per_param: int = 4

    def __post_init__(self) -> None:
        _check_nonnegative("latency_s", self.latency_s)
        if not (math.isfinite(self.bandwidth_bytes_per_s) and self.bandwidth_bytes_per_s > 0):
            raise ConfigError(f"bandwidth must be > 0 bytes/s, got {self.bandwidth_bytes_per_s!r}")
        if not (isinstance(self.bytes_per_param, int) and self.bytes_per_param > 0):
            raise ConfigError(f"bytes_per_param must be a positive integer, got {self.bytes_per_param!r}")


#: the network of ABSA Appendix C (2 µs, 6e9 bytes/s, float32)
DEFAULT_NETWORK = Network()


def allreduce_seconds(num_params: int, procs: int, network: Network = DEFAULT_NETWORK, *,
                      simplified: bool = False) -> float:
    """Seconds of one ring all-reduce of ``num_params`` values over ``procs`` processes.

    Args:
        num_params: |θ|, number of parameters (the message is ``num_params · bytes_per_param`` bytes).
        procs: p >= 1; ``p = 1`` costs nothing under eq. (14).
        network: latency, bandwidth and bytes per parameter.
        simplified: use eq. (16), ``2 |θ| / bandwidth`` (the large-``p``, zero-latency limit).
    """
    if not (isinstance(num_params, int) and num_params > 0):
        raise ConfigError(f"number of parameters must be a positive integer, got {num_params!r}")
    if not (isinstance(procs, int) and procs >= 1):
        raise ConfigError(f"number of processes must be an integer >= 1, got {procs!r}")
    message_s = num_params * network.bytes_per_param / network.bandwidth_bytes_per_s
    if simplified:
        return 2.0 * message_s
    return 2.0 * (network.latency_s * math.log2(procs) + (procs - 1) / procs * message_s)


@dataclass(frozen=True)
class MethodCosts:
    """What one training method costs, per update and per Hessian computation.

    Attributes:
        name: method label (``"BL"``, a run folder name, ...).
        updates: number of SGD updates of the whole run.
        t_comp: seconds of forward/backward computation per update.
        t_comm: seconds of gradient communication per update.
        t_hess: seconds per Hessian eigenvalue computation (communication included).
        n_hess: number of Hessian eigenvalue computations.
        source: where these numbers come from (one line).
    """

    name: str
    updates: int
    t_comp: float
    t_comm: float
    t_hess: float = 0.0
    n_hess: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        for what, count in (("updates", self.updates), ("n_hess", self.n_hess)):
            if not (isinstance(count, int) and count >= 0):
                raise ConfigError(f"{self.name}: {what} must be an integer >= 0, got {count!r}")
        for what, seconds in (("t_comp", self.t_comp), ("t_comm", self.t_comm), ("t_hess", self.t_hess)):
            _check_nonnegative(f"{self.name}: {what}", seconds)

    @property
    def total_s(self) -> float:
        """``updates · (t_comp + t_comm) + n_hess · t_hess`` in seconds."""
        return self.updates * (self.t_comp + self.t_comm) + self.n_hess * self.t_hess


@dataclass(frozen=True)
class SimulatedTime:
    """One row of the simulated-time table: the costs, the total and the speed-up over the baseline."""

    costs: MethodCosts
    total_s: float
    speedup: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (costs fields, ``total_s``, ``speedup``)."""
        return {**asdict(self.costs), "total_s": self.total_s, "speedup": self.speedup}


def simulate(methods: Sequence[MethodCosts], baseline: str | None = None) -> list[SimulatedTime]:
    """Total simulated time of each method and its speed-up ``T_baseline / T_method``.

    Args:
        methods: one entry per method, names unique.
        baseline: name of the reference method; default the first one.
    """
    if not methods:
        raise ConfigError("no methods to simulate; give at least one")
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise ConfigError(f"method names must be unique, got {names}; rename the duplicates")
    for m in methods:
        if m.total_s <= 0:
            raise ConfigError(f"{m.name}: simulated time is 0 (no updates and no Hessian computations); "
                              f"give its update count or costs")
    reference = names[0] if baseline is None else baseline
    if reference not in names:
        raise ConfigError(f"baseline {reference!r} is not one of the methods {names}")
    base_total = methods[names.index(reference)].total_s
    return [SimulatedTime(m, m.total_s, base_total / m.total_s) for m in methods]
