"""Claims: declarative statements about a set of runs, checked against stored results.

A claim is a mapping (in ``spec.json['claims']`` or passed to :func:`hessianlab.report.build_report`)::

    {"id": "lambda1-increases", "statement": "λ1 increases with batch size",
     "test": "spearman", "x": "config.batch_size", "y": "eigs.lambda1_train", "expect": "increasing",
     "alpha": 0.05, "min_rho": 0.5, "where": {"lr_schedule": "constant"}, "only_reached_target": true}

    {"id": "adv-lowers-lambda1", "statement": "adversarial training lowers λ1",
     "test": "less", "y": "eigs.lambda1_train", "where_a": {"adversarial": "fgsm"}, "where_b": {"adversarial": null}}

    {"id": "relu-psd", "statement": "ReLU: every input Hessian is PSD", "test": "bound",
     "y": "theorem1.fraction_psd", "min": 1.0, "where": {"activation": "relu"}, "only_reached_target": false}

Fields:

* ``id`` (required, unique string), ``statement`` (text; default: the id).
* ``test``: ``spearman`` (needs ``x``, ``y``, ``expect`` = ``increasing`` | ``decreasing``), ``less`` /
  ``greater`` (needs ``y``, ``where_a``, ``where_b``: the mean ``y`` of group A is less / greater than B's),
  ``bound`` (needs ``y`` and ``min`` and/or ``max``: every compared run's ``y`` lies in ``[min, max]``), or
  ``describe`` (needs ``y``: no expectation, the values are reported).
* ``x``, ``y``: metric paths (see :mod:`hessianlab.report.metrics`).
* ``where``, ``where_a``, ``where_b``: ``{field: value or [values]}``; a bare field is a config field, a
  dotted one a metric path. A run matches when every field equals (one of) the value(s).
* ``paper``: the paper's own verdict on the claim, ``supported`` (default), ``contradicted`` or
  ``inconclusive`` (e.g. a trend the paper found absent); a report explains every verdict that differs.
* ``alpha`` (default 0.05, in (0, 1)), ``min_rho`` (default 0.5, in [0, 1], spearman only),
  ``only_reached_target`` (default true: only runs that reached the target loss are compared).

Every mistake is one :class:`ConfigError` naming the claim and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from hessianlab.errors import ConfigError
from hessianlab.report import metrics as M
from hessianlab.training.config import TrainConfig

TESTS = ("spearman", "less", "greater", "bound", "describe")
EXPECT = ("increasing", "decreasing")
FIELDS = {"id", "statement", "test", "x", "y", "expect", "alpha", "min_rho", "where", "where_a", "where_b",
          "only_reached_target", "min", "max", "paper"}
PAPER_VERDICTS = ("supported", "contradicted", "inconclusive")
NEEDED = {"spearman": ("x", "y", "expect"), "less": ("y", "where_a", "where_b"),
          "greater": ("y", "where_a", "where_b"), "bound": ("y",), "describe": ("y",)}
ONLY = {"expect": ("spearman",), "min_rho": ("spearman",), "x": ("spearman",), "where_a": ("less", "greater"),
        "where_b": ("less", "greater"), "alpha": ("spearman", "less", "greater"), "min": ("bound",),
        "max": ("bound",), "paper": ("spearman", "less", "greater", "bound")}
CONFIG_FIELDS = frozenset(f.name for f in fields(TrainConfig))


@dataclass(frozen=True)
class Claim:
    """A validated claim (see the module docstring for the meaning of each field)."""

    id: str
    statement: str
    test: str
    y: str
    x: str | None = None
    expect: str | None = None
    alpha: float = 0.05
    min_rho: float = 0.5
    where: dict[str, Any] = field(default_factory=dict)
    where_a: dict[str, Any] = field(default_factory=dict)
    where_b: dict[str, Any] = field(default_factory=dict)
    only_reached_target: bool = True
    min: float | None = None
    max: float | None = None
    paper: str | None = None


def parse_claims(items: Any) -> list[Claim]:
    """Validate a list of claim mappings; ids must be unique."""
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"claims: expected a list of mappings, got {type(items).__name__}")
    claims = [parse_claim(item, i) for i, item in enumerate(items)]
    seen: set[str] = set()
    for c in claims:
        if c.id in seen:
            raise ConfigError(f"claim {c.id!r}: field 'id': duplicate id; give every claim its own id")
        seen.add(c.id)
    return claims


def parse_claim(item: Any, index: int = 0) -> Claim:
    """Validate one claim mapping into a :class:`Claim`."""
    if not isinstance(item, Mapping):
        raise ConfigError(f"claims[{index}]: expected a mapping, got {type(item).__name__}")
    cid = item.get("id")
    if not isinstance(cid, str) or not cid.strip():
        raise ConfigError(f"claims[{index}]: field 'id': required, a non-empty string")
    where = f"claim {cid!r}"
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(FIELDS))}")
    test = item.get("test")
    if test not in TESTS:
        raise ConfigError(f"{where}: field 'test': must be one of {', '.join(TESTS)}, got {test!r}")
    for name in NEEDED[test]:
        if item.get(name) is None:
            raise ConfigError(f"{where}: field {name!r}: required for test {test!r}")
    for name, tests in ONLY.items():
        if name in item and test not in tests:
            raise ConfigError(f"{where}: field {name!r}: only for test {' or '.join(map(repr, tests))}, not {test!r}")
    for name in ("x", "y"):
        if item.get(name) is not None:
            _check(where, name, lambda v=item[name]: M.check_path(v))
    if test == "spearman" and item["expect"] not in EXPECT:
        raise ConfigError(f"{where}: field 'expect': must be one of {', '.join(EXPECT)}, got {item['expect']!r}")
    bounds = {name: _number(where, name, item[name], -math.inf, math.inf) if item.get(name) is not None else None
              for name in ("min", "max")}
    if test == "bound" and bounds["min"] is None and bounds["max"] is None:
        raise ConfigError(f"{where}: field 'min': test 'bound' needs min, max or both")
    if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
        raise ConfigError(f"{where}: field 'max': must be >= min ({bounds['min']:g}), got {bounds['max']:g}")
    alpha = _number(where, "alpha", item.get("alpha", 0.05), 0.0, 1.0, open_low=True, open_high=True)
    min_rho = _number(where, "min_rho", item.get("min_rho", 0.5), 0.0, 1.0)
    only = item.get("only_reached_target", True)
    if not isinstance(only, bool):
        raise ConfigError(f"{where}: field 'only_reached_target': must be true or false, got {only!r}")
    statement = item.get("statement", cid)
    if not isinstance(statement, str):
        raise ConfigError(f"{where}: field 'statement': must be a string")
    paper = item.get("paper", None if test == "describe" else "supported")
    if paper is not None and paper not in PAPER_VERDICTS:
        raise ConfigError(f"{where}: field 'paper': must be one of {', '.join(PAPER_VERDICTS)}, got {paper!r}")
    filters = {name: _filter(where, name, item.get(name)) for name in ("where", "where_a", "where_b")}
    return Claim(id=cid, statement=statement, test=test, y=item["y"], x=item.get("x"), expect=item.get("expect"),
                 alpha=alpha, min_rho=min_rho, only_reached_target=only, paper=paper, **filters, **bounds)


def _check(where: str, name: str, check: Any) -> None:
    try:
        check()
    except ConfigError as exc:
        raise ConfigError(f"{where}: field {name!r}: {exc}") from None


def _number(where: str, name: str, v: Any, low: float, high: float, *, open_low: bool = False,
            open_high: bool = False) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok:
        ok = (low < v if open_low else low <= v) and (v < high if open_high else v <= high)
    if not ok:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        wanted = "a finite number" if math.isinf(low) and math.isinf(high) else f"a number in {interval}"
        raise ConfigError(f"{where}: field {name!r}: must be {wanted}, got {v!r}")
    return float(v)


def _filter(where: str, name: str, v: Any) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise ConfigError(f"{where}: field {name!r}: must be a mapping {{field: value}}, got {type(v).__name__}")
    for key in v:
        if not isinstance(key, str):
            raise ConfigError(f"{where}: field {name!r}: keys must be strings, got {key!r}")
        if "." in key:
            _check(where, name, lambda k=key: M.check_path(k))
        elif key not in CONFIG_FIELDS:
            raise ConfigError(f"{where}: field {name!r}: {key!r} is not a config field; use one of "
                              f"{', '.join(sorted(CONFIG_FIELDS))} or a metric path")
    return dict(v)


def matches(run: Any, filters: Mapping[str, Any]) -> bool:
    """Whether ``run`` satisfies every ``{field: value or [values]}`` of ``filters``."""
    for key, wanted in filters.items():
        got = M.value(run, key) if "." in key else run.config.get(key)
        options: Sequence[Any] = wanted if isinstance(wanted, list) else [wanted]
        if not any(_equal(got, w) for w in options):
            return False
    return True


def _equal(a: Any, b: Any) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if numbers:
        return float(a) == float(b)
    return a == b
