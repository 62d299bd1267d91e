"""Save a landscape with its directions beside it, atomically; load it back safely.

``save_landscape('out/plane.json', plane, {'d1': d1, 'd2': d2})`` writes

* ``out/plane.pt``: ``{direction name: {parameter name: tensor}}``, CPU tensors only, readable with
  ``torch.load(..., weights_only=True)``;
* ``out/plane.json``: the values (:meth:`Line.to_dict` / :meth:`Plane.to_dict`), the direction names and
  the ``.pt`` file name. It is written last, so a JSON file always has its directions beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from hessianlab.atomic import load_tensors, read_json, save_tensors, write_json
from hessianlab.errors import ConfigError, StoreError
from hessianlab.landscape.results import Line, Plane, result_from_dict

FORMAT = "hessianlab.landscape/1"
Directions = Mapping[str, Mapping[str, torch.Tensor]]


def save_landscape(path: str | Path, result: Line | Plane, directions: Directions) -> Path:
    """Write ``result`` to ``path`` (must end in ``.json``) and ``directions`` to the same stem with ``.pt``.

    ``directions`` maps a label (e.g. ``'d1'``, ``'theta_a'``) to a direction dict. Returns the ``.pt`` path.
    """
    path = Path(path)
    if path.suffix != ".json":
        raise ConfigError(f"landscape path {path} must end in .json; the directions go beside it as .pt")
    tensors_path = path.with_suffix(".pt")
    tensors = {
        str(label): {str(n): t.detach().to("cpu").clone().contiguous() for n, t in d.items()}
        for label, d in directions.items()
    }
    save_tensors(tensors_path, tensors)
    write_json(path, {"format": FORMAT, "result": result.to_dict(), "directions_file": tensors_path.name,
                      "directions": list(tensors)})
    return tensors_path


def load_landscape(path: str | Path) -> tuple[Line | Plane, dict[str, dict[str, torch.Tensor]]]:
    """Read what :func:`save_landscape` wrote: ``(result, directions)``; tensors loaded with ``weights_only``."""
    path = Path(path)
    record = read_json(path)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise StoreError(f"{path}: not a hessianlab landscape file ({FORMAT}); pass the .json save_landscape wrote")
    directions = load_tensors(path.parent / record["directions_file"])
    if sorted(directions) != sorted(record["directions"]):
        raise StoreError(f"{path}: directions file does not match the record; save the landscape again")
    return result_from_dict(record["result"]), directions
