"""The ``hessianlab`` command line.

Each sub-command lives in a module of :mod:`hessianlab.commands` listed in ``COMMAND_MODULES``; the module's
``register(subparsers)`` adds its parser and sets ``func(args) -> int``. Every fault a user can cause (any
:class:`~hessianlab.errors.HessianlabError`, argument errors, a full disk, a permission, a corrupt file; see
:mod:`hessianlab.errorline`) becomes one line on stderr and exit code 2; ``-v`` adds the traceback. The
global flags (``--data-dir``, ``--threads``, ``-v``) go before or after the sub-command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import NoReturn, Sequence

from hessianlab import __version__
from hessianlab.allocator import tune_allocator
from hessianlab.errorline import error_line, one_line

log = logging.getLogger("hessianlab")

COMMAND_MODULES = ("train", "datasets", "runs", "compare", "attack", "curvature", "report", "run", "reproduce",
                   "simulate", "plan")

# what Ctrl-C leaves behind, per command (default: nothing of the measurement was stored)
_INTERRUPTED = {
    "train": "finished epochs are saved; rerun the same command with --resume",
    "compare-batch": "finished epochs are saved; rerun the same command to continue",
    "run": "finished runs, epochs and analyses are saved; rerun the same command to continue",
    "reproduce": "finished runs, epochs and analyses are saved; rerun the same command to continue",
}
_INTERRUPTED_DEFAULT = "this command's result was not stored; rerun it"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error message (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {one_line(message)}\n")
        sys.exit(2)


def _positive_int(text: str) -> int:
    """A positive integer (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_global_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The global flags; on a sub-command's parser they default to "not given", so the top level's value stays."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--data-dir", default=default, help="folder holding datasets (overrides $HESSIANLAB_DATA)")
    parser.add_argument("--threads", type=_positive_int, default=default,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("-v", "--verbose", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="log debug messages (and the traceback of an error)")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="hessianlab", description="Hessian-based analysis of neural-network training.")
    parser.add_argument("--version", action="version", version=f"hessianlab {__version__}")
    _add_global_flags(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"hessianlab.commands.{name}").register(subparsers)
    for sub in subparsers.choices.values():
        _add_global_flags(sub, top=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    tune_allocator()
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)  # other libraries: warnings
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if args.data_dir is not None:
        os.environ["HESSIANLAB_DATA"] = args.data_dir
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # the reader of stdout went away (e.g. `| head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        sys.stderr.write(f"hessianlab: interrupted; {_INTERRUPTED.get(args.command, _INTERRUPTED_DEFAULT)}\n")
        return 130
    except Exception as exc:
        line = error_line(exc)
        if line is None:
            raise
        log.debug("traceback of the error below", exc_info=True)
        sys.stderr.write(f"hessianlab: error: {line}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
