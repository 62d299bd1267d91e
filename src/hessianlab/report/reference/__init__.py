"""The papers' result tables, transcribed as data with their source and settings, shown beside our numbers.

Public API::

    PAPER_TABLES['yao2018.table1'] -> PaperTable     every transcribed table by name
    paper_tables(['absa.table1', ...]) -> [PaperTable]   names checked (ConfigError listing the allowed ones)
    MISSING                                          tables the papers name that our copies lack, with why

Names are ``<paper>.table<number>``: ``yao2018`` (Yao et al. 2018, Hessian-based analysis; Tables 1-6, of
which 5 and 6 are the rebuttal's) and ``absa`` (Yao et al. 2018, ABSA; Tables 1-7). A spec lists the tables
its report shows under ``reference:``. Every value was copied from the markdown copies of the papers in the
shared papers folder; ``tests/report/test_report_reference.py`` re-reads those files and compares each number.
"""

from __future__ import annotations

from typing import Any

from hessianlab.errors import ConfigError
from hessianlab.report.reference import absa, yao2018
from hessianlab.report.reference.schema import Column, Paper, PaperTable, Settings

PAPERS: tuple[Paper, ...] = (yao2018.PAPER, absa.PAPER)
PAPER_TABLES: dict[str, PaperTable] = {t.key: t for t in (*yao2018.TABLES, *absa.TABLES)}
MISSING: dict[str, str] = dict(yao2018.MISSING)


def paper_tables(names: Any, where: str = "reference") -> list[PaperTable]:
    """The tables called ``names`` (a list of ``'<paper>.table<n>'``), in that order; ``where`` names the field.

    Raises :class:`ConfigError` for anything but a list of known, distinct names.
    """
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}: expected a list of paper table names such as [yao2018.table1], got {names!r}")
    out = []
    for i, name in enumerate(names):
        if name in MISSING:
            raise ConfigError(f"{where}[{i}]: {MISSING[name]}; remove {name!r}")
        if name not in PAPER_TABLES:
            raise ConfigError(f"{where}[{i}]: unknown paper table {name!r}; choose from: {', '.join(PAPER_TABLES)}")
        if name in names[:i]:
            raise ConfigError(f"{where}[{i}]: {name!r} is listed twice; list each paper table once")
        out.append(PAPER_TABLES[name])
    return out


__all__ = ["MISSING", "PAPERS", "PAPER_TABLES", "Column", "Paper", "PaperTable", "Settings", "paper_tables"]
