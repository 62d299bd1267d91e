"""``make_attack(name, **params)``: build an attack from a config entry (YAML spec, CLI flags).

>>> make_attack("pgd", eps=0.3, steps=40, norm="linf").describe()["step_size"]
0.01875
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hessianlab.attacks.base import Attack
from hessianlab.attacks.first_order import FGSM, IFGSM, PGD, L2Grad
from hessianlab.attacks.second_order import FHSM, L2Hess
from hessianlab.errors import ConfigError

__all__ = ["ATTACKS", "ATTACK_NAMES", "make_attack"]

ATTACKS: dict[str, type[Attack]] = {cls.name: cls for cls in (FGSM, IFGSM, PGD, L2Grad, FHSM, L2Hess)}
#: registry names, in listing order
ATTACK_NAMES: tuple[str, ...] = tuple(ATTACKS)


def make_attack(name: str, **params: Any) -> Attack:
    """The attack ``name`` (one of :data:`ATTACK_NAMES`) with ``params``; ``eps`` is required.

    Raises :class:`ConfigError` (one line naming the field and the allowed values) for an unknown name,
    an unknown or missing parameter, or an impossible value.
    """
    if name not in ATTACKS:
        raise ConfigError(f"attack must be one of {', '.join(ATTACK_NAMES)}, got {name!r}")
    cls = ATTACKS[name]
    allowed = tuple(f.name for f in fields(cls))
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown parameter {unknown[0]!r} for attack {name!r}; allowed: {', '.join(allowed)}")
    if "eps" not in params:
        raise ConfigError(f"attack {name!r} needs eps (perturbation radius in pixels, >= 0)")
    return cls(**params)
