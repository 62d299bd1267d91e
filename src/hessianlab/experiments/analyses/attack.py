"""Robust accuracy of a trained run under attacks (white-box, or transfer from another run's model).

Shared by ``hessianlab attack`` and the experiment runner. One result per (method, split):
``results["attack"][attack_key(...)]`` = :meth:`RobustResult.to_dict` + ``split`` + ``source``; the key holds
every setting that changes the numbers (radii, samples, steps where the method has them, source). The models
and the evaluated split go to ``device`` (see :mod:`hessianlab.device`; not in the key).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from hessianlab.attacks import RobustResult
from hessianlab.device import select_device
from hessianlab.errors import ConfigError
from hessianlab.experiments.store import RunDir

SPLITS = ("train", "test")
STEPPED = ("ifgsm", "pgd")


def attack_key(method: str, split: str, source: str | Path | None = None, *, eps: Sequence[float],
               samples: int | None = None, steps: int | None = None) -> str:
    """``METHOD/SPLIT/eps=E1,E2/samples=S[/steps=N][/from:NAME]`` (``S``: ``all`` or a count; ``steps`` for
    ifgsm/pgd only, ``default`` when unset; NAME: the source run folder's name)."""
    key = f"{method}/{split}/eps={','.join(map(str, eps))}/samples={samples if samples is not None else 'all'}"
    if method in STEPPED:
        key += f"/steps={steps if steps is not None else 'default'}"
    return key + (f"/from:{Path(source).resolve().name}" if source is not None else "")


def attack(run: RunDir, *, methods: Sequence[str], eps: Sequence[float], splits: Sequence[str] = ("test",),
           samples: int | None = None, steps: int | None = None, batch_size: int = 256,
           source: str | Path | None = None,
           device: str | torch.device | None = None) -> list[tuple[str, RobustResult]]:
    """Accuracy of the run's model under each attack in ``methods`` at every radius in ``eps`` (pixels).

    ``samples`` evaluates a stratified subset of each split; ``steps`` applies to ``ifgsm``/``pgd``;
    ``source`` is a run folder whose model generates the examples (transfer). The models and each evaluated
    split are moved to ``device`` (``None``: ``$HESSIANLAB_DEVICE``, else auto). Returns ``[(key, result)]``.
    """
    from hessianlab.attacks import make_attack, robust_accuracy

    for split in splits:
        if split not in SPLITS:
            raise ConfigError(f"split: {split!r} is not allowed; use train, test or both")
    device = select_device(device)
    model = run.load_model().to(device)
    source_model = None
    if source is not None:
        src = RunDir.open(Path(source))
        if src.status.get("status") != "finished":
            raise ConfigError(f"source run {source} is {src.status.get('status')}, not finished; train it first")
        theirs, mine = src.data_meta, run.data_meta
        if list(theirs["shape"]) != list(mine["shape"]) or len(theirs["classes"]) != len(mine["classes"]):
            raise ConfigError(f"--source {source}: its model takes inputs {list(theirs['shape'])} with "
                              f"{len(theirs['classes'])} classes, this run's data {list(mine['shape'])} with "
                              f"{len(mine['classes'])}; pick a source trained on the same data")
        source_model = src.load_model().to(device)
    out = []
    for method in methods:
        params: dict[str, Any] = {"eps": eps[0]}
        if steps is not None and method in STEPPED:
            params["steps"] = steps
        attack_fn = make_attack(method, **params)
        for split in splits:
            data = run.load_data(split, subset=samples)
            result = robust_accuracy(model, data.images.to(device), data.labels.to(device), attack_fn, eps,
                                     batch_size=batch_size, source_model=source_model)
            key = attack_key(method, split, source, eps=eps, samples=samples, steps=steps)
            run.write_result("attack", key, {**result.to_dict(), "split": split,
                                             "source": str(source) if source is not None else None})
            out.append((key, result))
    return out
