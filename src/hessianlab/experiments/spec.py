"""Experiment specs (``experiments/*.yaml``): schema, presets and validation before any work starts.

A spec has ``name``, ``description``, optional ``output`` (a relative subfolder, default ``name``), a
``base`` config (any :class:`~hessianlab.training.TrainConfig` field), ``sweep`` axes (field -> list of
values; the run grid is their full product), ``analyses`` (a list of ``{kind, id?, **params}``, kinds
from :data:`~hessianlab.experiments.analyses.ANALYSES`), named ``presets`` and opaque ``claims``.

A preset deep-merges into the spec: ``base`` fields override, ``sweep`` axes replace (``null`` removes an
axis), ``analyses`` override parameters by analysis id (``null`` removes one), ``description`` replaces.
Every mistake is one :class:`ConfigError` naming the field path (``analyses[2].eps``) and what is allowed.
Paths (``output``, ``init_from``) must be relative and free of ``..`` (they stay inside the output folder;
``init_from`` names a run folder below ``DIR/runs``).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml

from hessianlab.errors import ConfigError
from hessianlab.experiments.analyses import ANALYSES
from hessianlab.experiments.grid import RunPlan, expand
from hessianlab.experiments.spec_analyses import check_analysis
from hessianlab.training.config import TrainConfig

TOP_KEYS = ("name", "description", "output", "base", "sweep", "analyses", "presets", "claims")
PRESET_KEYS = ("description", "base", "sweep", "analyses")
CONFIG_FIELDS = tuple(f.name for f in fields(TrainConfig))
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FIELD_MSG = re.compile(r"^([a-z_0-9]+): ")


class _SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (no object construction) that also reads ``1e-3`` as a float (YAML 1.2 rule)."""


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass(frozen=True)
class AnalysisSpec:
    """One analysis of the spec: unique ``id``, registry ``kind`` and validated ``params`` (defaults filled)."""

    id: str
    kind: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Spec:
    """A validated spec with its preset applied; :meth:`expand` gives the run grid."""

    name: str
    description: str
    output: str
    preset: str | None
    base: dict[str, Any]
    sweep: tuple[tuple[str, tuple[Any, ...]], ...]
    analyses: tuple[AnalysisSpec, ...]
    claims: tuple[dict[str, Any], ...] = ()
    presets: tuple[str, ...] = field(default=())

    def expand(self) -> list[RunPlan]:
        """One :class:`RunPlan` per grid point, in a stable order with stable names."""
        return expand(self.base, self.sweep)

    def default_out(self) -> Path:
        """``runs/<output>/<preset or 'default'>``."""
        return Path("runs") / self.output / (self.preset or "default")

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec (after the preset) as plain JSON data (``spec.json`` of a sweep)."""
        return {"name": self.name, "description": self.description, "output": self.output, "preset": self.preset,
                "base": dict(self.base), "sweep": {a: list(v) for a, v in self.sweep},
                "analyses": [{"id": a.id, "kind": a.kind, **a.params} for a in self.analyses],
                "claims": [dict(c) for c in self.claims], "presets": list(self.presets)}


def load_spec(path: str | Path, preset: str | None = None) -> Spec:
    """Read and validate the YAML spec at ``path`` with ``preset`` applied; :class:`ConfigError` if invalid."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(f"{path}: spec file not found; pass a YAML spec such as experiments/example-batch-sweep.yaml") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    return parse_spec(data, preset)


def parse_spec(data: Any, preset: str | None = None) -> Spec:
    """Validate the spec mapping ``data`` (as read from YAML) and apply ``preset``."""
    _mapping(data, "spec", TOP_KEYS)
    for key in ("name", "analyses"):
        if key not in data:
            raise ConfigError(f"{key}: required field is missing")
    name = _safe_name(data["name"], "name")
    presets = _mapping(data.get("presets") or {}, "presets", None)
    for pname, body in presets.items():
        _safe_name(pname, f"presets.{pname}")
        _mapping(body, f"presets.{pname}", PRESET_KEYS)
    merged = copy.deepcopy({k: v for k, v in data.items() if k != "presets"})
    if preset is not None:
        if preset not in presets:
            allowed = ", ".join(presets) or "none defined"
            raise ConfigError(f"preset: {preset!r} is not defined in spec {name!r}; choose one of: {allowed}")
        _apply_preset(merged, copy.deepcopy(presets[preset]), f"presets.{preset}")
    base = _base(merged.get("base") or {})
    sweep = _sweep(merged.get("sweep") or {}, base)
    description = merged.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"description: expected a string, got {description!r}")
    output = _relative_path(merged.get("output", name), "output")
    analyses = _analyses(merged["analyses"], dict(sweep))
    spec = Spec(name, description, output, preset, base, sweep, analyses, _claims(merged.get("claims") or []),
                tuple(presets))
    spec.expand()  # validates every grid point's TrainConfig
    return spec


def _apply_preset(spec: dict[str, Any], preset: dict[str, Any], where: str) -> None:
    if "description" in preset:
        spec["description"] = preset["description"]
    spec["base"] = {**_mapping(spec.get("base") or {}, "base", None), **_mapping(preset.get("base") or {}, f"{where}.base", None)}
    sweep = dict(_mapping(spec.get("sweep") or {}, "sweep", None))
    for axis, values in _mapping(preset.get("sweep") or {}, f"{where}.sweep", None).items():
        if values is None:
            sweep.pop(axis, None)
        else:
            sweep[axis] = values
    spec["sweep"] = sweep
    if not isinstance(spec["analyses"], list):
        raise ConfigError(f"analyses: expected a list of mappings, got {spec['analyses']!r}")
    entries = {_analysis_id(e, i): e for i, e in enumerate(spec["analyses"])}
    for aid, override in _mapping(preset.get("analyses") or {}, f"{where}.analyses", None).items():
        if aid not in entries:
            raise ConfigError(f"{where}.analyses.{aid}: no analysis has id {aid!r}; ids: {', '.join(entries)}")
        if override is None:
            entries.pop(aid)
        else:
            entries[aid] = {**entries[aid], **_mapping(override, f"{where}.analyses.{aid}", None)}
    spec["analyses"] = list(entries.values())


def _base(base: Any) -> dict[str, Any]:
    _mapping(base, "base", CONFIG_FIELDS)
    if base.get("init_from") is not None:
        _relative_path(base["init_from"], "base.init_from")
    try:
        TrainConfig.from_dict(base)
    except ConfigError as exc:
        raise ConfigError(_prefixed("base", str(exc))) from None
    return dict(base)


def _sweep(sweep: Any, base: dict[str, Any]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    _mapping(sweep, "sweep", CONFIG_FIELDS)
    axes = []
    for axis, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{axis}: expected a non-empty list of values, got {values!r}")
        for i, value in enumerate(values):
            if isinstance(value, (dict, list)):
                raise ConfigError(f"sweep.{axis}[{i}]: expected a scalar value, got {value!r}")
            if axis == "init_from" and value is not None:
                _relative_path(value, f"sweep.{axis}[{i}]")
            try:
                TrainConfig.from_dict({**base, axis: value})
            except ConfigError as exc:
                raise ConfigError(_prefixed(f"sweep.{axis}[{i}]", str(exc), axis)) from None
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"sweep.{axis}: values must be distinct, got {values!r}")
        axes.append((axis, tuple(values)))
    return tuple(axes)


def _analyses(entries: Any, axes: dict[str, tuple[Any, ...]]) -> tuple[AnalysisSpec, ...]:
    if not isinstance(entries, list):
        raise ConfigError(f"analyses: expected a list of mappings, got {entries!r}")
    out: list[AnalysisSpec] = []
    for i, entry in enumerate(entries):
        where = f"analyses[{i}]"
        aid = _safe_name(_analysis_id(entry, i), f"{where}.id")
        if any(a.id == aid for a in out):
            raise ConfigError(f"{where}.id: {aid!r} is used twice; give each analysis a distinct id")
        kind = entry["kind"]
        if kind not in ANALYSES:
            raise ConfigError(f"{where}.kind: unknown analysis {kind!r}; choose one of: {', '.join(ANALYSES)}")
        params = {k: v for k, v in entry.items() if k not in ("id", "kind")}
        out.append(AnalysisSpec(aid, kind, check_analysis(kind, params, where, axes)))
    return tuple(out)


def _analysis_id(entry: Any, i: int) -> str:
    if not isinstance(entry, dict):
        raise ConfigError(f"analyses[{i}]: expected a mapping with a kind, got {entry!r}")
    if "kind" not in entry:
        raise ConfigError(f"analyses[{i}].kind: required; choose one of: {', '.join(ANALYSES)}")
    return entry.get("id", entry["kind"])


def _claims(claims: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(claims, list):
        raise ConfigError(f"claims: expected a list of mappings, got {claims!r}")
    for i, claim in enumerate(claims):
        if not isinstance(claim, dict) or not isinstance(claim.get("id"), str):
            raise ConfigError(f"claims[{i}]: expected a mapping with a string id, got {claim!r}")
    return tuple(dict(c) for c in claims)


def _mapping(value: Any, where: str, allowed: tuple[str, ...] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(f"{where}: keys must be strings, got {key!r}")
        if allowed is not None and key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown field; allowed: {', '.join(allowed)}")
    return value


def _safe_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigError(f"{where}: expected a name of letters, digits, '.', '_' or '-', got {value!r}")
    return value


def _relative_path(value: Any, where: str) -> str:
    """A relative path without ``..``, so it stays inside the output folder."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a relative path, got {value!r}")
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or value.startswith(("/", "\\", "~")):
        raise ConfigError(f"{where}: {value!r} is absolute; use a path relative to the output folder")
    if ".." in re.split(r"[\\/]", value):
        raise ConfigError(f"{where}: {value!r} contains '..'; paths must stay inside the output folder")
    return value


def _prefixed(where: str, message: str, axis: str | None = None) -> str:
    """``lr: must be > 0`` -> ``base.lr: must be > 0`` (or ``sweep.lr[1]: must be > 0`` for ``axis='lr'``)."""
    match = _FIELD_MSG.match(message)
    if match and match.group(1) in CONFIG_FIELDS:
        rest = message[match.end():]
        if axis is None:
            return f"{where}.{match.group(1)}: {rest}"
        if match.group(1) == axis:
            return f"{where}: {rest}"
    return f"{where}: {message}"
