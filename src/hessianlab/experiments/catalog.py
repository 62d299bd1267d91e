"""A SQLite catalog over all runs below one root folder.

The catalog is an index, not the source of truth: every fact in it is also in the run directories, so
it can be rebuilt (:func:`hessianlab.experiments.store.reindex`). A corrupt file is a
:class:`~hessianlab.errors.StoreError` naming it and the repair (``hessianlab runs ROOT --repair`` rebuilds
it, and ``hessianlab run`` does so on its own); a full disk is an ``OSError`` (ENOSPC) naming it. It uses WAL
mode and a busy timeout so several processes (a parallel sweep) can write concurrently; every write is one
short transaction. Jobs on other machines (Ray, Slurm) run inside :func:`writes_disabled`, so SQLite is never
opened over a network filesystem: the driver indexes their run folders instead
(:func:`hessianlab.experiments.store.index_run`).

Schema: ``runs(run_id, path, config_hash, status, config, summary, updated)`` where ``run_id`` is the run
folder's path relative to the catalog root, ``config`` and ``summary`` are JSON; and
``results(run_id, kind, key, payload, updated)``.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from hessianlab.errors import StoreError

T = TypeVar("T")

CATALOG_NAME = "catalog.sqlite"
CATALOG_FILES = (CATALOG_NAME, f"{CATALOG_NAME}-wal", f"{CATALOG_NAME}-shm")  # the database and its WAL files
STATUSES = ("created", "running", "finished", "diverged", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    config_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '{}',
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_hash ON runs(config_hash);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (run_id, kind, key)
);
"""


_LOCK_RETRY_SECONDS = 120.0
_WRITES = contextvars.ContextVar("hessianlab_catalog_writes", default=True)


@contextmanager
def writes_disabled() -> Iterator[None]:
    """Within the block, catalog writes of this thread are skipped (the run folders still get every write)."""
    token = _WRITES.set(False)
    try:
        yield
    finally:
        _WRITES.reset(token)


def _setup(conn: sqlite3.Connection) -> None:
    """Busy timeout, WAL mode and the schema (idempotent)."""
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(_SCHEMA)


def _retry_locked(action: Callable[[], T]) -> T:
    """Run ``action``, retrying with backoff while SQLite reports the database locked or busy.

    SQLite's busy handler covers ordinary lock waits, but a few paths return ``SQLITE_BUSY`` at once (switching
    a new file to WAL while another process opens it, schema creation racing between processes); those are
    retried here for up to two minutes.
    """
    deadline = time.monotonic() + _LOCK_RETRY_SECONDS
    delay = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            message = str(exc).lower()
            if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


class Catalog:
    """The catalog file ``ROOT/catalog.sqlite``; opened per operation, safe across processes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / CATALOG_NAME

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite's errors as the user's faults they are: disk full (ENOSPC) or a corrupt catalog."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            message = str(exc).lower()
            if "full" in message:
                raise OSError(errno.ENOSPC, str(exc), str(self.path)) from exc
            if "locked" in message or "busy" in message:
                raise
            raise StoreError(f"{self.path}: corrupt catalog ({exc}); rebuild it from the run folders with "
                             f"`hessianlab runs {self.root} --repair`") from exc

    def check(self) -> str | None:
        """``None`` when the catalog is missing or sound, else what is wrong with it."""
        if not self.path.exists():
            return None
        try:
            with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60.0)) as conn:
                rows = conn.execute("PRAGMA quick_check").fetchall()
                conn.execute("SELECT count(*) FROM runs").fetchone()
                conn.execute("SELECT count(*) FROM results").fetchone()
        except sqlite3.DatabaseError as exc:
            return str(exc)
        problems = [r[0] for r in rows if r[0] != "ok"]
        return "; ".join(problems[:3]) or None

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            with self._guard():
                _retry_locked(lambda: _setup(conn))
        except BaseException:
            conn.close()
            raise
        return conn

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        if not _WRITES.get():
            return

        def once() -> None:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, params)
                conn.execute("COMMIT")
            finally:
                conn.close()

        with self._guard():
            _retry_locked(once)

    def upsert_run(self, run_id: str, config_hash: str, status: str, config: dict[str, Any],
                   summary: dict[str, Any] | None = None) -> None:
        """Insert or update one run's row."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        self._write(
            "INSERT INTO runs(run_id, config_hash, status, config, summary, updated) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(run_id) DO UPDATE SET config_hash=excluded.config_hash, status=excluded.status, "
            "config=excluded.config, summary=excluded.summary, updated=excluded.updated",
            (run_id, config_hash, status, json.dumps(config, sort_keys=True),
             json.dumps(summary or {}, sort_keys=True), time.time()),
        )

    def put_result(self, run_id: str, kind: str, key: str, payload: dict[str, Any]) -> None:
        """Insert or replace one analysis result of a run."""
        self._write(
            "INSERT OR REPLACE INTO results(run_id, kind, key, payload, updated) VALUES (?,?,?,?,?)",
            (run_id, kind, key, json.dumps(payload, sort_keys=True), time.time()),
        )

    def runs(self, *, status: str | None = None, config_hash: str | None = None) -> list[dict[str, Any]]:
        """Rows of ``runs`` (decoded), optionally filtered, ordered by ``run_id``."""
        if not self.path.exists():
            return []
        clauses, params = [], []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if config_hash is not None:
            clauses.append("config_hash = ?")
            params.append(config_hash)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        conn = self._connect()
        try:
            with self._guard():
                rows = conn.execute(
                    f"SELECT run_id, config_hash, status, config, summary, updated FROM runs{where} ORDER BY run_id",
                    params,
                ).fetchall()
        finally:
            conn.close()
        return [
            {"run_id": r[0], "config_hash": r[1], "status": r[2], "config": json.loads(r[3]),
             "summary": json.loads(r[4]), "updated": r[5]}
            for r in rows
        ]

    def results(self, run_id: str | None = None, kind: str | None = None) -> Iterator[dict[str, Any]]:
        """Rows of ``results`` (decoded), optionally filtered."""
        if not self.path.exists():
            return iter(())
        clauses, params = [], []
        for column, value in (("run_id", run_id), ("kind", kind)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        conn = self._connect()
        try:
            with self._guard():
                rows = conn.execute(
                    f"SELECT run_id, kind, key, payload FROM results{where} ORDER BY run_id, kind, key", params
                ).fetchall()
        finally:
            conn.close()
        return iter({"run_id": r[0], "kind": r[1], "key": r[2], "payload": json.loads(r[3])} for r in rows)
