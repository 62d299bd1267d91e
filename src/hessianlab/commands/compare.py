"""``hessianlab compare-batch``: train one model at several batch sizes and compare them in a table.

This is the small job behind ``make reproduce`` until the full reproduction presets land: it trains the
default model on the default data at each batch size (constant LR, to the target loss or the epoch cap)
and prints accuracy, loss, updates and whether the target was reached.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hessianlab.commands._training import add_config_arguments, config_from_args, run_training
from hessianlab.device import add_device_argument, select_device
from hessianlab.table import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("compare-batch", help="train at several batch sizes and compare")
    add_config_arguments(parser, skip=("--batch-size",))
    parser.add_argument("--batch-sizes", default="64,2048", help="comma-separated batch sizes (default: 64,2048)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs (one sub-folder per batch size)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device_argument(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from hessianlab.errors import ConfigError

    try:
        sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--batch-sizes: expected comma-separated integers, got {args.batch_sizes!r}") from None
    device = select_device(args.device)
    rows = []
    for size in sizes:
        config = config_from_args(args, batch_size=size)
        run, result = run_training(config, args.out / f"bs{size}", resume=True, quiet=args.quiet, label=f"B={size}",
                                   device=device)
        final = result.final
        rows.append({"batch": size, "epochs": result.epochs, "updates": result.updates,
                     "train_loss": final.get("train_loss"), "train_acc": final.get("train_acc"),
                     "test_acc": final.get("test_acc"), "reached_target": result.reached_target,
                     "status": result.status, "seconds": final.get("wall_seconds")})
    print(format_table(rows, ["batch", "epochs", "updates", "train_loss", "train_acc", "test_acc",
                              "reached_target", "status", "seconds"]))
    print(f"runs in {args.out}; list them with: hessianlab runs {args.out}")
    return 0
