"""SQLAlchemy async engines for the components' own databases: SQLite by default, PostgreSQL by URL.

SQLite allows one writer at a time per file, and the drivers' defaults break under concurrency:
pysqlite (under aiosqlite) begins a transaction only at the first write, so a read-then-write
runs its read outside the transaction (lost updates); a transaction that reads and then writes
fails at once with "database is locked" when another connection wrote meanwhile (a busy timeout
does not help there); and pooled connections waiting for the lock sleep in SQLite's busy handler
holding their pool slots, so a storm of writers exhausts the pool and times out. The discipline
here, for every SQLite engine:

- a transaction that may write begins with `BEGIN IMMEDIATE`: it holds the write lock from its
  first read, so a read-then-write never fails half-way nor acts on a stale read. "May write" is
  a transaction begun on purpose (`engine.begin()`, `session.begin()`), or one whose first
  statement writes; one begun by a read (`engine.connect()`, a session without `begin()`) is a
  plain `BEGIN` and runs beside the writer (WAL), so reads never queue behind writes;
- writers of one engine take turns in asyncio, first come, first served, before they ask SQLite
  for the lock: none sleeps in SQLite's busy handler, and none waits longer than
  `SQLITE_WRITER_TIMEOUT_SECONDS` (then the caller gets an error, never a hang, even if code
  holding the turn opened a second writing transaction on the same engine);
- WAL, and a busy timeout for the other engines and processes on the same file (the router's
  records beside its A2A tasks).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction, SessionTransactionOrigin
from sqlalchemy.util import await_

__all__ = ["SQLITE_WRITER_TIMEOUT_SECONDS", "create_database_engine", "display_url"]

_SQLITE_BUSY_TIMEOUT_MS = 10_000
#: How long a SQLite transaction that writes waits for its turn before it fails.
SQLITE_WRITER_TIMEOUT_SECONDS = 60.0
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)
#: Keys of a pooled connection's `info`: the BEGIN it still owes, and whether it holds the writers' turn.
_BEGIN, _WRITER, _EXECUTING = "sqlite_begin", "sqlite_writer", "sqlite_executing"


def create_database_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    _SqliteDiscipline(engine)
    return engine


def display_url(url: str) -> str:
    """`url` with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


class _SqliteDiscipline:
    """The events that implement the module doc's discipline on one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._turn: asyncio.Lock | None = None
        sync_engine = engine.sync_engine
        event.listen(sync_engine, "connect", self._connect)
        event.listen(sync_engine, "before_execute", self._before_execute)
        event.listen(sync_engine, "after_execute", self._after_execute)
        event.listen(sync_engine, "begin", self._begin)
        event.listen(sync_engine, "before_cursor_execute", self._before_cursor_execute)
        event.listen(sync_engine, "commit", self._end)
        event.listen(sync_engine, "rollback", self._end)
        event.listen(sync_engine.pool, "checkin", self._checkin)

    def _connect(self, dbapi_connection: Any, connection_record: Any) -> None:
        # The driver's own transaction handling off: the BEGIN is emitted below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # Durable at each checkpoint rather than each commit: safe in WAL mode, and commits stay cheap.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    def _before_execute(self, connection: Connection, *args: Any) -> None:
        connection.info[_EXECUTING] = True

    def _after_execute(self, connection: Connection, *args: Any) -> None:
        connection.info.pop(_EXECUTING, None)

    def _begin(self, connection: Connection) -> None:
        # Begun by a statement (autobegin): a read, unless that statement writes. Begun on purpose: may write.
        autobegun = connection.info.pop(_EXECUTING, False)
        connection.info[_BEGIN] = "DEFERRED" if autobegun else "IMMEDIATE"

    def _before_cursor_execute(self, connection: Connection, cursor: Any, statement: str, *args: Any) -> None:
        mode = connection.info.pop(_BEGIN, None)
        if mode is None:
            return
        if mode == "IMMEDIATE" or _WRITE.match(statement):
            self._take_turn(connection)
            mode = "IMMEDIATE"
        cursor.execute(f"BEGIN {mode}")

    def _take_turn(self, connection: Connection) -> None:
        if self._turn is None:
            self._turn = asyncio.Lock()
        try:
            await_(asyncio.wait_for(self._turn.acquire(), SQLITE_WRITER_TIMEOUT_SECONDS))
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE",
                None,
                Exception(
                    f"no turn to write within {SQLITE_WRITER_TIMEOUT_SECONDS:g} s: the database is overloaded, "
                    "or a transaction that writes waited for another one of its own"
                ),
            ) from None
        connection.info[_WRITER] = True

    def _end(self, connection: Connection) -> None:
        connection.info.pop(_BEGIN, None)
        if connection.info.pop(_WRITER, False):
            self._give_turn()

    def _checkin(self, dbapi_connection: Any, connection_record: Any) -> None:
        # A connection returned without its transaction ending (invalidated, cancelled) gives its turn back here.
        info = connection_record.info
        info.pop(_BEGIN, None)
        info.pop(_EXECUTING, None)
        if info.pop(_WRITER, False):
            self._give_turn()

    def _give_turn(self) -> None:
        if self._turn is not None and self._turn.locked():
            self._turn.release()


def _read_only_session(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    # A session used without `begin()` reads (the SDK's and ADK's stores write inside `begin()`).
    autobegun = transaction.origin is SessionTransactionOrigin.AUTOBEGIN
    if connection.dialect.name == "sqlite" and autobegun and connection.info.get(_BEGIN) == "IMMEDIATE":
        connection.info[_BEGIN] = "DEFERRED"


event.listen(Session, "after_begin", _read_only_session)
