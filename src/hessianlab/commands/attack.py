"""``hessianlab attack RUN_DIR``: robust accuracy of a trained model under an attack, stored in the run.

Each (method, split) pair is one result ``results.json["attack"]["<method>/<split>[/from:<source>]"]``
holding accuracy per epsilon, clean accuracy and the attack's full definition. ``--source RUN_DIR``
generates the examples against another run's model and evaluates them here (transfer, the D_attack
datasets of Yao et al. Tables 3-4).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hessianlab.device import add_device_argument
from hessianlab.errors import ConfigError
from hessianlab.table import format_table


def _floats(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one value")
    return values


def register(subparsers: argparse._SubParsersAction) -> None:
    from hessianlab.attacks import ATTACK_NAMES

    parser = subparsers.add_parser("attack", help="robust accuracy of a run's model under an attack")
    parser.add_argument("run", type=Path, help="run folder")
    parser.add_argument("--method", default="fgsm", help=f"one of {', '.join(ATTACK_NAMES)} (comma-separated for several)")
    parser.add_argument("--eps", type=_floats, default=[0.02, 0.01], help="radii in pixels, comma-separated")
    parser.add_argument("--split", default="test", help="train, test or both comma-separated (default: test)")
    parser.add_argument("--samples", type=int, default=None, help="evaluate a stratified subset of this size")
    parser.add_argument("--source", type=Path, default=None, help="run whose model generates the examples")
    parser.add_argument("--steps", type=int, default=None, help="iterations for ifgsm/pgd")
    parser.add_argument("--batch-size", type=int, default=256)
    add_device_argument(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from hessianlab.experiments.analyses.attack import attack
    from hessianlab.experiments.store import RunDir

    splits = [s.strip() for s in args.split.split(",") if s.strip()]
    for split in splits:
        if split not in ("train", "test"):
            raise ConfigError(f"--split: {split!r} is not allowed; use train, test or train,test")
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    results = attack(RunDir.open(args.run), methods=methods, eps=args.eps, splits=splits, samples=args.samples,
                     steps=args.steps, batch_size=args.batch_size, source=args.source, device=args.device)
    rows = []
    for key, result in results:
        method, split = key.split("/")[:2]
        for eps, acc in zip(result.eps, result.accuracy):
            rows.append({"method": method, "split": split, "eps": eps, "clean_acc": result.clean_accuracy,
                         "robust_acc": acc, "samples": result.num_samples})
    print(format_table(rows, ["method", "split", "eps", "clean_acc", "robust_acc", "samples"]))
    return 0
