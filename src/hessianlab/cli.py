"""The ``hessianlab`` command line.

Each sub-command lives in a module of :mod:`hessianlab.commands` listed in ``COMMAND_MODULES``; the module's
``register(subparsers)`` adds its parser and sets ``func(args) -> int``. User mistakes (any
:class:`~hessianlab.errors.HessianlabError`, and argument errors) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import NoReturn, Sequence

from hessianlab import __version__
from hessianlab.errors import HessianlabError

COMMAND_MODULES = ("train", "datasets", "runs", "compare", "attack", "curvature", "report", "run", "reproduce",
                   "simulate", "plan")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="hessianlab", description="Hessian-based analysis of neural-network training.")
    parser.add_argument("--version", action="version", version=f"hessianlab {__version__}")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding datasets (overrides $HESSIANLAB_DATA)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"hessianlab.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    if args.data_dir is not None:
        os.environ["HESSIANLAB_DATA"] = args.data_dir
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return int(args.func(args) or 0)
    except HessianlabError as exc:
        sys.stderr.write(f"hessianlab: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("hessianlab: interrupted; finished epochs are saved, rerun the same command with --resume\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
