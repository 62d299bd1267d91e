"""``hessianlab runs [DIR]``: a table of the runs in the catalogs below ``DIR``; ``--check`` / ``--repair``.

``DIR`` may be a catalog root (``runs/``, a sweep's ``runs/`` folder) or any folder above catalogs: every
``catalog.sqlite`` below it is read (after ``make reproduce`` the runs live under ``runs/reproduce/...``), and
``run_id`` is shown relative to ``DIR``. ``--check`` lists damaged run folders and catalogs and what
``--repair`` would do (exit code 1 when there is damage); ``--repair`` does it (exit code 1 when some damage
cannot be repaired; see :mod:`hessianlab.experiments.health`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hessianlab.errors import ConfigError
from hessianlab.table import format_table

_COLUMNS = ["run_id", "status", "model", "dataset", "batch_size", "lr", "epochs", "updates", "train_loss",
            "test_acc", "reached_target"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("runs", help="table of runs from the catalogs; --check/--repair damaged folders")
    parser.add_argument("dir", nargs="?", type=Path, default=Path("runs"), help="folder to search (default: runs)")
    parser.add_argument("--status", default=None, help="only runs with this status")
    parser.add_argument("--reindex", action="store_true", help="rebuild the catalog from the run folders first")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="list damaged run folders and catalogs (changes nothing)")
    mode.add_argument("--repair", action="store_true", help="repair what --check lists")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from hessianlab.experiments.store import reindex

    if not args.dir.is_dir():
        what = "does not exist" if not args.dir.exists() else "is not a folder"
        raise ConfigError(f"{args.dir} {what}; pass the folder holding your runs (e.g. runs, or a sweep's folder)")
    if args.check or args.repair:
        return _health(args.dir, repair=args.repair)
    if args.reindex:
        reindex(args.dir)
    rows = _rows(args.dir, args.status)
    if not rows:
        print(f"no runs in {args.dir} (no catalog.sqlite below it; `hessianlab runs {args.dir} --reindex` builds one "
              "from the run folders)")
        return 0
    print(format_table(rows, _COLUMNS))
    return 0


def _rows(root: Path, status: str | None) -> list[dict[str, object]]:
    from hessianlab.experiments.catalog import Catalog
    from hessianlab.experiments.health import catalog_roots

    rows = []
    for catalog_root in catalog_roots(root):
        prefix = catalog_root.relative_to(root)
        for row in Catalog(catalog_root).runs(status=status):
            cfg, summary = row["config"], row["summary"]
            rows.append({"run_id": str(prefix / row["run_id"]), "status": row["status"], "model": cfg.get("model"),
                         "dataset": cfg.get("dataset"), "batch_size": cfg.get("batch_size"), "lr": cfg.get("lr"),
                         **{k: summary.get(k) for k in ("epochs", "updates", "train_loss", "test_acc",
                                                        "reached_target")}})
    return rows


def _health(root: Path, *, repair: bool) -> int:
    from hessianlab.experiments.health import check, repair as mend

    damage = check(root)
    if not damage:
        print(f"{root}: no damaged run folder or catalog")
        return 0
    rows = [{"path": str(d.path), "problem": d.problem, "repair": d.repair} for d in damage]
    print(format_table(rows, ["path", "problem", "repair"]))
    if not repair:
        print(f"{len(damage)} damaged; `hessianlab runs {root} --repair` does the repairs listed")
        return 1
    mend(root, damage)
    left = check(root)
    print(f"repaired {len(damage) - len(left)} of {len(damage)}" + (f"; left: {', '.join(str(d.path) for d in left)}"
                                                                     if left else ""))
    return 1 if left else 0
