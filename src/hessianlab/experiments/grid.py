"""Sweep grids: the product of the sweep factors, one :class:`RunPlan` per grid point with a stable name.

A factor is a plain axis (its values) or a zip group (axes whose values move together: row ``i`` of a
group takes the ``i``-th value of every axis in it). The grid is the product of the factors, first factor
slowest; a factor sits where its (first) axis sits in the sweep.

A run's name is its sweep point written ``axis=value`` joined by ``_`` (in axis order, sanitised to
``[A-Za-z0-9._=-]``) plus ``-`` and the first 8 hex digits of its config hash, e.g.
``batch_size=64_seed=0-3f2a9c1b``; a sweep without axes gives ``base-<hash>``. The name depends only on
the point and the resolved config, so it is the same on every invocation of the same spec.

``init_from`` may be a run selector ``{axis: value}`` (:func:`select`): the run then starts from the final
weights of the one grid point it selects. Its config's ``init_from`` is that source run's name (a folder
below ``DIR/runs``; the source's name carries its config hash, so the dependent's hash depends on the
source's config), and :attr:`RunPlan.source` names it. Plans come out in grid order; every source is
expanded before its dependents, and a selector matching 0 or several runs, the run itself, or a cycle is a
:class:`ConfigError`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from hessianlab.errors import ConfigError
from hessianlab.training.config import TrainConfig

_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")
Axes = Sequence[tuple[str, Sequence[Any]]]
Groups = Sequence[Sequence[str]]


@dataclass(frozen=True)
class RunPlan:
    """One grid point: ``name`` (its folder under ``DIR/runs``), the sweep ``point``, the ``config`` and
    ``source``, the name of the plan whose final weights start this one (``init_from``), if any."""

    name: str
    point: Mapping[str, Any]
    config: TrainConfig
    source: str | None = None


def run_name(point: Mapping[str, Any], config: TrainConfig) -> str:
    """``axis=value_axis=value-HASH8`` (see the module docstring)."""
    label = "_".join(f"{axis}={_text(value)}" for axis, value in point.items()) or "base"
    return f"{_UNSAFE.sub('-', label)[:120]}-{config.config_hash()[:8]}"


def points(sweep: Axes, groups: Groups = ()) -> list[dict[str, Any]]:
    """Every grid point ``{axis: value}`` in grid order (see the module docstring)."""
    values = dict(sweep)
    factors: list[tuple[str, ...]] = []
    for axis, _ in sweep:
        group = next((tuple(g) for g in groups if axis in g), (axis,))
        if group not in factors:
            factors.append(group)
    rows = [list(zip(*(values[a] for a in group))) for group in factors]
    out = []
    for combo in itertools.product(*rows):
        out.append({axis: value for group, row in zip(factors, combo) for axis, value in zip(group, row)})
    return out


def select(all_points: Mapping[str, Mapping[str, Any]], name: str, selector: Mapping[str, Any],
           groups: Groups = ()) -> list[str]:
    """Names of the runs a selector picks for run ``name``: their point has the selector's values and this
    run's values on every other axis, except the other axes of a zip group the selector touches (``{adversarial:
    null}`` picks the clean run of the same seed, whatever ``adv_eps`` is paired with it)."""
    free = set(selector)
    for group in groups:
        if free & set(group):
            free |= set(group)
    mine = all_points[name]
    return [other for other, point in all_points.items()
            if all(_same(point.get(a), v) for a, v in selector.items())
            and all(_same(point[a], mine[a]) for a in point if a not in free)]


def expand(base: Mapping[str, Any], sweep: Axes, groups: Groups = ()) -> list[RunPlan]:
    """One plan per grid point over ``base`` (see the module docstring).

    Each config is validated by :meth:`TrainConfig.from_dict`; an invalid one is a :class:`ConfigError`
    naming the grid point.
    """
    grid = points(sweep, groups)
    keys = [_label(p) for p in grid]
    if len(set(keys)) != len(keys):
        raise ConfigError("sweep: two grid points are equal; remove the duplicate axis values or zip rows")
    by_key = dict(zip(keys, grid))
    sources: dict[str, str | None] = {}
    for key, point in by_key.items():
        selector = point.get("init_from", base.get("init_from"))
        if selector is None:
            sources[key] = None
            continue
        found = select(by_key, key, selector, groups)
        if len(found) != 1:
            raise ConfigError(f"init_from: {_show(selector)} selects {len(found)} runs for the run ({key}); "
                              "it must select exactly one grid point (name more axes)")
        if found[0] == key:
            raise ConfigError(f"init_from: {_show(selector)} selects the run ({key}) itself; set init_from: null there "
                              "(e.g. in a zip group)")
        sources[key] = found[0]
    plans: dict[str, RunPlan] = {}
    for key in _dependency_order(sources):
        point = by_key[key]
        source = plans[sources[key]].name if sources[key] is not None else None
        try:
            config = TrainConfig.from_dict({**base, **point, "init_from": source})
        except ConfigError as exc:
            raise ConfigError(f"sweep point ({key}): {exc}") from None
        plans[key] = RunPlan(run_name(point, config), point, config, source)
    ordered = [plans[k] for k in keys]
    names = [p.name for p in ordered]
    if len(set(names)) != len(names):
        raise ConfigError("sweep: two grid points give the same run name; remove the duplicate axis values")
    return ordered


def training_order(plans: Sequence[RunPlan]) -> list[RunPlan]:
    """``plans`` with every ``init_from`` source before the runs that start from it (otherwise grid order)."""
    by_name = {p.name: p for p in plans}
    order = _dependency_order({p.name: p.source if p.source in by_name else None for p in plans})
    return [by_name[n] for n in order]


def _dependency_order(sources: Mapping[str, str | None]) -> list[str]:
    """Keys with each ``sources[key]`` before ``key`` (stable); :class:`ConfigError` on a cycle."""
    order: list[str] = []
    state: dict[str, str] = {}
    for start in sources:
        chain = []
        key: str | None = start
        while key is not None and state.get(key) != "done":
            if state.get(key) == "open":
                cycle = chain[chain.index(key):] + [key]
                raise ConfigError(f"init_from: the runs form a cycle ({' -> '.join(cycle)}); one of them must "
                                  "start from scratch (init_from: null)")
            state[key] = "open"
            chain.append(key)
            key = sources[key]
        for done in reversed(chain):
            state[done] = "done"
            order.append(done)
    return order


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _label(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{a}={_text(v)}" for a, v in point.items()) or "base"


def _show(selector: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{a}: {_text(v)}" for a, v in selector.items()) + "}"


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return "+".join(f"{a}-{_text(v)}" for a, v in value.items())
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
