"""Group repeated seeds and summarise them as mean ± the half-width of a 95 % t interval (n shown beside).

Runs belong to one group when their configs are equal except for ``seed``, ``init_from`` (a run continued
from another run of the study starts from that run's seed's model, so its folder differs with the seed) and
``track_lambda1`` / ``track_lambda1_warm`` (a measurement that leaves training unchanged: a preset may track
λ1 per epoch for one seed only, and its seeds still form one setting). The
spread is the sample standard deviation (``ddof=1``) over the runs of a group that have a value; one value has
no spread. Cells show ``mean ± h`` with h = t_{0.975, n-1} · std / sqrt(n), the 95 % t interval of the mean
over the n seeds: with 3 seeds a bootstrap of one cell cannot cover more than 75 %, the t interval is exact for
normal seed noise (claims' effects use the pooled bootstrap of :mod:`hessianlab.report.stats`).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from scipy.stats import t as t_dist

from hessianlab.report.runs import RunRecord

SEED = "seed"
#: config fields that never separate groups or settings
POOLED = (SEED, "init_from", "track_lambda1", "track_lambda1_warm")


@dataclass(frozen=True)
class Group:
    """Runs whose configs differ only in :data:`POOLED` fields; ``config`` is the shared config without them."""

    config: dict[str, Any]
    runs: tuple[RunRecord, ...]

    @property
    def reached_target(self) -> bool:
        """True when every run of the group reached the target loss."""
        return all(r.reached_target for r in self.runs)


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (``None`` for one value) and count of the available values."""

    mean: float
    std: float | None
    n: int

    @property
    def half_width(self) -> float | None:
        """Half-width of the 95 % t interval of the mean (``None`` for one value)."""
        return None if self.std is None else float(t_dist.ppf(0.975, self.n - 1)) * self.std / math.sqrt(self.n)


def group_runs(runs: Iterable[RunRecord]) -> list[Group]:
    """Groups of runs equal up to :data:`POOLED` fields, in order of first appearance."""
    groups: dict[str, list[RunRecord]] = {}
    configs: dict[str, dict[str, Any]] = {}
    for run in runs:
        cfg = {k: v for k, v in run.config.items() if k not in POOLED}
        key = json.dumps(cfg, sort_keys=True, default=str)
        groups.setdefault(key, []).append(run)
        configs.setdefault(key, cfg)
    return [Group(configs[k], tuple(v)) for k, v in groups.items()]


def varying_axes(runs: Sequence[RunRecord], *, ignore: Iterable[str] = POOLED) -> list[str]:
    """Config fields whose value differs between ``runs`` (sorted), minus ``ignore``."""
    skip = set(ignore)
    keys = sorted({k for r in runs for k in r.config} - skip)
    return [k for k in keys if len({json.dumps(r.config.get(k), default=str) for r in runs}) > 1]


def stat(values: Iterable[float | None]) -> Stat | None:
    """Mean ± std of the finite values, or ``None`` when there is none."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None
    return Stat(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None, len(vals))


def group_stat(group: Group, get: Callable[[RunRecord], float | None]) -> Stat | None:
    """:func:`stat` of ``get(run)`` over the runs of ``group``."""
    return stat(get(r) for r in group.runs)


def fmt_stat(s: Stat | None, *, scale: float = 1.0, digits: int = 4) -> str:
    """``'mean ± h'`` (h: 95 % t half-width) with ``digits`` significant digits (``'–'`` when missing), values
    times ``scale``."""
    if s is None:
        return "–"
    text = fmt_number(s.mean * scale, digits)
    return text if s.half_width is None else f"{text} ± {fmt_number(s.half_width * scale, 2)}"


def fmt_number(v: float, digits: int = 4) -> str:
    """A compact number: general format with ``digits`` significant digits."""
    return f"{v:.{digits}g}"
