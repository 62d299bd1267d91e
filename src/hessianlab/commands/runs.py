"""``hessianlab runs [DIR]``: a table of the runs in a catalog."""

from __future__ import annotations

import argparse
from pathlib import Path

from hessianlab.experiments.catalog import Catalog
from hessianlab.experiments.store import reindex
from hessianlab.table import format_table

_COLUMNS = ["run_id", "status", "model", "dataset", "batch_size", "lr", "epochs", "updates", "train_loss",
            "test_acc", "reached_target"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("runs", help="table of runs from the catalog")
    parser.add_argument("dir", nargs="?", type=Path, default=Path("runs"), help="catalog root (default: runs)")
    parser.add_argument("--status", default=None, help="only runs with this status")
    parser.add_argument("--reindex", action="store_true", help="rebuild the catalog from the run folders first")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.reindex:
        reindex(args.dir)
    rows = []
    for row in Catalog(args.dir).runs(status=args.status):
        cfg, summary = row["config"], row["summary"]
        rows.append({"run_id": row["run_id"], "status": row["status"], "model": cfg.get("model"),
                     "dataset": cfg.get("dataset"), "batch_size": cfg.get("batch_size"), "lr": cfg.get("lr"),
                     **{k: summary.get(k) for k in ("epochs", "updates", "train_loss", "test_acc", "reached_target")}})
    if not rows:
        print(f"no runs in {args.dir} (catalog {args.dir / 'catalog.sqlite'})")
        return 0
    print(format_table(rows, _COLUMNS))
    return 0
