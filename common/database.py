"""SQLAlchemy async engines for the components' own databases: SQLite by default, PostgreSQL by URL.

A SQLite file's directory is created, and every SQLite connection waits for the write lock
(one writer at a time) instead of failing at once, in WAL mode so readers proceed meanwhile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["create_database_engine", "display_url"]

_SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_database_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, pool_pre_ping=True)
    if sqlite:
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
    return engine


def display_url(url: str) -> str:
    """`url` with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()
