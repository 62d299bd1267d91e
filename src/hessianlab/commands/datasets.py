"""``hessianlab datasets``: which datasets exist, whether each is available locally, and where."""

from __future__ import annotations

import argparse

from hessianlab.table import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("datasets", help="list datasets and where they are found")
    parser.add_argument("--download", metavar="NAME", default=None,
                        help="download NAME (mnist, fashion-mnist, cifar10, cifar100, svhn) into --data-dir")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from hessianlab.data import available_datasets, load_dataset

    if args.download:
        for split in ("train", "test"):
            load_dataset(args.download, split, download=True)
        print(f"{args.download}: downloaded and verified")
    rows = [{"name": d.name, "available": d.available, "where": d.where, "note": d.note} for d in available_datasets()]
    print(format_table(rows, ["name", "available", "where", "note"]))
    return 0
