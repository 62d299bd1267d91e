"""Every fault a user can cause, as the one line the CLI prints (exit code 2).

:func:`error_line` maps an exception to that line, or ``None`` for a fault that is a bug (the CLI lets those
raise, with their traceback). It covers, in one place:

* :class:`~hessianlab.errors.HessianlabError` (the project's own messages, which name the fix);
* ``OSError`` a user causes: disk full, quota, read-only file system, permission denied, is-a-directory,
  not-a-directory, exists, not found; the line names the path (:mod:`hessianlab.atomic` attaches it to
  write errors) and the fix;
* decode errors of a file hessianlab wrote (JSON, JSONL, YAML, text, SQLite), where the reading code did not
  already name the file (it usually does, see :func:`hessianlab.atomic.read_json`).

:func:`one_line` makes any message one line and quotes at most :data:`QUOTE_LIMIT` characters of any single
piece of user input (a 50 MB spec is never echoed whole).
"""

from __future__ import annotations

import errno
import json
import re
import sqlite3

import yaml

from hessianlab.errors import HessianlabError

QUOTE_LIMIT = 200
LINE_LIMIT = 1000

_QUOTED = re.compile(r"'[^'\n]{%d,}'|\"[^\"\n]{%d,}\"" % (QUOTE_LIMIT + 1, QUOTE_LIMIT + 1))
_CHECK = "find damaged run folders with `hessianlab runs DIR --check` and mend them with `--repair`"

# errno -> (what happened, the fix)
_OS_FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device",
                   "free some space (or choose another --out) and rerun the same command; finished work is kept"),
    errno.EDQUOT: ("disk quota exceeded",
                   "free some space (or choose another --out) and rerun the same command; finished work is kept"),
    errno.EROFS: ("read-only file system", "choose a writable folder (e.g. another --out)"),
    errno.EACCES: ("permission denied", "choose a folder you can write (e.g. another --out) or fix its permissions"),
    errno.EPERM: ("operation not permitted", "choose a folder you own (e.g. another --out) or fix its permissions"),
    errno.EISDIR: ("is a folder where a file is expected", "pass a file"),
    errno.ENOTDIR: ("a part of this path is a file, not a folder", "choose a path whose parents are folders"),
    errno.EEXIST: ("already exists and is not a folder", "choose another path or move that file away"),
    errno.ENOENT: ("not found", "check the path"),
    errno.ENAMETOOLONG: ("file name too long", "choose a shorter path"),
}


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def one_line(message: str) -> str:
    """``message`` on one line, with every quoted piece of input over :data:`QUOTE_LIMIT` characters cut."""
    text = _QUOTED.sub(lambda m: m.group(0)[0] + shorten(m.group(0)[1:-1]) + m.group(0)[0], message)
    text = " ".join(text.split())
    if len(text) > LINE_LIMIT:  # unquoted input: keep the start (the problem) and the end (the fix)
        half = LINE_LIMIT // 2
        text = f"{text[:half]} ... {text[-half:]}"
    return text


def os_error_line(exc: OSError) -> str | None:
    """The line for an ``OSError`` a user causes, ``None`` for other errno values."""
    fault = _OS_FAULTS.get(exc.errno or -1)
    if fault is None:
        return None
    what, fix = fault
    where = exc.filename if exc.filename is not None else "a file hessianlab writes"
    return f"{where}: {what}; {fix}"


def error_line(exc: BaseException) -> str | None:
    """The one line for ``exc``, or ``None`` when ``exc`` is not a fault a user can cause or mend."""
    if isinstance(exc, HessianlabError):
        line = str(exc)
    elif isinstance(exc, OSError):
        line = os_error_line(exc)
    elif isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
        line = f"a file is corrupt or not text ({type(exc).__name__}: {exc}); {_CHECK}"
    elif isinstance(exc, sqlite3.DatabaseError):
        line = f"a catalog.sqlite is corrupt ({exc}); {_CHECK}"
    elif isinstance(exc, yaml.YAMLError):
        line = f"a YAML file is not valid ({exc}); fix the file"
    else:
        line = None
    return None if line is None else one_line(line)
