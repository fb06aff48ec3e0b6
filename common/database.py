"""SQLAlchemy async engines for the components' own databases: SQLite by default, PostgreSQL by URL.

SQLite allows one writer at a time per file, and the drivers' defaults break under concurrency:
pysqlite (under aiosqlite) begins a transaction only at the first write, so a read-then-write
runs its read outside the transaction (lost updates) or fails at once with "database is locked"
when another connection wrote since the read (a busy timeout does not help there); and each
pooled connection waiting for the lock sleeps in SQLite's busy handler while holding its pool
slot, so a storm of writers exhausts the pool. The writer discipline here:

- every transaction begins with `BEGIN IMMEDIATE`: it takes the write lock before its first
  read, so a read-then-write can never fail half-way or act on a stale read;
- one connection per engine: the connections of one process wait for each other in the pool's
  asyncio queue (first come, first served, no thread held), not in SQLite; the wait is bounded
  by `SQLITE_POOL_TIMEOUT_SECONDS`, after which the caller gets an error instead of a hang;
- WAL (readers in other processes are not blocked by the writer) and a busy timeout, for the
  other engines or processes on the same file (the router's records beside its A2A tasks).

Code that holds a connection must not open a second one on the same engine: it would wait for
itself until the pool timeout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["SQLITE_POOL_TIMEOUT_SECONDS", "create_database_engine", "display_url"]

_SQLITE_BUSY_TIMEOUT_MS = 10_000
#: How long a SQLite transaction waits for the engine's one connection before it fails.
SQLITE_POOL_TIMEOUT_SECONDS = 60.0


def create_database_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    in_memory = parsed.database in (None, "", ":memory:")
    if parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # An in-memory database already has one connection (SQLAlchemy's StaticPool), which takes no pool sizes.
    pool: dict[str, Any] = (
        {} if in_memory else {"pool_size": 1, "max_overflow": 0, "pool_timeout": SQLITE_POOL_TIMEOUT_SECONDS}
    )
    engine = create_async_engine(url, **pool)
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def display_url(url: str) -> str:
    """`url` with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    # The driver's own transaction handling off: `_begin_immediate` emits the BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    # Durable at each checkpoint rather than each commit: safe in WAL mode, and commits stay cheap.
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
