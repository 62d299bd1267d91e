"""Data types of a transcribed paper table: columns with units, rows of printed numbers, the paper's settings.

Numbers are :class:`~decimal.Decimal` so that a value keeps the digits the paper printed (``100.00``,
``42.70``, ``0.523``) and :meth:`PaperTable.display` reproduces the printed text. A *pair* cell is the
paper's ``train (test)`` notation. ``None`` is a cell the paper leaves without a number: printed ``N.A.``,
or left blank where a column says so (``missing=""``).

Rows are written in the paper modules as text, one row per line, cells separated by white space, exactly as
the paper lays them out::

    C1  16  100 (77.68)  0.64 (32.78)      label, number, pair, pair
    128 92.02 78125 N.A. N.A.              number, number, number, missing, missing

A token in parentheses is the second half of a pair with the token before it; ``N.A.`` and ``–`` are
missing; a token that is not a number is a label. Units: ``%`` (accuracy), ``examples`` (batch size),
``updates`` (parameter updates), ``s`` (seconds), ``×`` (ratio); Hessian eigenvalues are ``loss/θ²``
(w.r.t. the weights) or ``loss/x²`` (w.r.t. the input, per sample), input-gradient norms ``loss/x``, with the
loss the cross-entropy and x the network input.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

Pair = tuple[Decimal, Decimal]
Cell = str | Decimal | Pair | None
Kind = Literal["label", "number", "pair"]
MISSING_TOKENS = ("N.A.", "–")


@dataclass(frozen=True)
class Paper:
    """A paper: ``key`` (the prefix of table names), short and full citation, our markdown copy's file name."""

    key: str
    short: str
    citation: str
    markdown: str


@dataclass(frozen=True)
class Settings:
    """The paper's setting for a table: data, network, and how it was trained and measured."""

    dataset: str
    model: str
    protocol: str

    def describe(self) -> str:
        """One line: ``"paper's settings: dataset …; model …; …"``."""
        return f"paper's settings: dataset {self.dataset}; model {self.model}; {self.protocol}"


@dataclass(frozen=True)
class Column:
    """A column: printed ``name``, ``unit`` (``""`` for labels), CSV ``key``, cell ``kind``.

    ``fmt`` is a format spec for its numbers where the paper does not print plain decimals (``".1E"`` for
    ``2.2E-2``); ``missing`` is the text of a missing cell.
    """

    name: str
    unit: str
    key: str
    kind: Kind = "number"
    fmt: str = ""
    missing: str = "N.A."

    @property
    def header(self) -> str:
        """``'Acc. (%) train (test)'``: name, unit in parentheses, and the pair order."""
        text = f"{self.name} ({self.unit})" if self.unit else self.name
        return f"{text} train (test)" if self.kind == "pair" else text

    def display(self, cell: Cell) -> str:
        """The cell as the paper prints it."""
        if cell is None:
            return self.missing
        if isinstance(cell, tuple):
            return f"{self._number(cell[0])} ({self._number(cell[1])})"
        return cell if isinstance(cell, str) else self._number(cell)

    def _number(self, value: Decimal) -> str:
        return format(value, self.fmt) if self.fmt else str(value)


@dataclass(frozen=True)
class PaperTable:
    """One numeric table of a paper, transcribed. ``key`` is ``'<paper>.table<number>'``."""

    paper: Paper
    number: int
    caption: str
    settings: Settings
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"{self.key} row {i}: {len(row)} cells for {len(self.columns)} columns")
            for col, cell in zip(self.columns, row, strict=True):
                if not _fits(col.kind, cell):
                    raise ValueError(f"{self.key} row {i}, column {col.name!r}: {cell!r} is not a {col.kind}")

    @property
    def key(self) -> str:
        """``'yao2018.table1'``."""
        return f"{self.paper.key}.table{self.number}"

    @property
    def source(self) -> str:
        """Citation, table number and caption."""
        return f"{self.paper.citation}, Table {self.number}: {self.caption}"

    def display(self) -> list[list[str]]:
        """Every row as printed text, one string per column."""
        return [[col.display(cell) for col, cell in zip(self.columns, row, strict=True)] for row in self.rows]

    def records(self) -> list[dict[str, str | float | None]]:
        """Every row as ``{key: value}`` for CSV; a pair column gives ``<key>_train`` and ``<key>_test``.

        A number printed without a decimal point becomes an ``int``, any other a ``float``.
        """
        out = []
        for row in self.rows:
            rec: dict[str, str | float | None] = {}
            for col, cell in zip(self.columns, row, strict=True):
                if isinstance(cell, tuple):
                    rec[f"{col.key}_train"], rec[f"{col.key}_test"] = _plain(cell[0]), _plain(cell[1])
                else:
                    rec[col.key] = cell if isinstance(cell, str) or cell is None else _plain(cell)
            out.append(rec)
        return out


def parse_rows(text: str) -> tuple[tuple[Cell, ...], ...]:
    """Rows from whitespace-separated printed cells, one row per non-empty line (grammar in the module doc)."""
    rows = []
    for line in filter(str.strip, text.splitlines()):
        cells: list[Cell] = []
        for token in line.split():
            if token.startswith("(") and token.endswith(")"):
                first = cells.pop() if cells else None
                if not isinstance(first, Decimal):
                    raise ValueError(f"{token!r} follows {first!r}, not a number, in row {line!r}")
                cells.append((first, Decimal(token[1:-1])))
            elif token in MISSING_TOKENS:
                cells.append(None)
            else:
                cells.append(_number_or_label(token))
        rows.append(tuple(cells))
    return tuple(rows)


def _number_or_label(token: str) -> Decimal | str:
    try:
        value = Decimal(token)
    except InvalidOperation:
        return token
    return value if value.is_finite() else token


def _plain(value: Decimal) -> int | float:
    return int(value) if int(value.as_tuple().exponent) >= 0 else float(value)


def _fits(kind: Kind, cell: Cell) -> bool:
    if kind == "label":
        return isinstance(cell, str)
    if kind == "pair":
        return isinstance(cell, tuple) and len(cell) == 2
    return cell is None or isinstance(cell, Decimal)
