"""The control plane's database: SQLite by default, PostgreSQL by URL, one SQLAlchemy async code path.

`start()` brings the schema to the newest Alembic revision (`controlplane/migrations`) before
anything else touches it. Every write runs in one transaction (`write()`) that also inserts its
audit row (`audit()`), so a write either happens with its record or not at all.

Lists are paged by keyset: rows are ordered by one time column and the id, and the cursor
holds the last row's (time, id), so a page never repeats or skips rows when rows are added
while a client pages (new rows sort before the first page of a newest-first list).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Column, ColumnElement, RowMapping, Table, and_, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.database import create_database_engine, display_url
from common.errors import InputError
from controlplane.tables import audit_log, new_id

__all__ = ["MIGRATIONS", "Actor", "ControlPlaneStore", "Listing", "migrate"]

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Actor:
    """Who is writing: the token's client, and the end user an intermediary acts for."""

    client_id: str
    on_behalf_of: str | None = None


@dataclass(frozen=True)
class Listing:
    rows: list[RowMapping]
    next_cursor: str | None


def migrate(connection: Connection) -> None:
    """Upgrade the database behind `connection` to the newest revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


class ControlPlaneStore:
    """Create with a SQLAlchemy async URL, then `start()`; `clock` is the time of every record."""

    def __init__(self, url: str, *, clock: Clock = _now) -> None:
        self.url = url
        self.clock = clock
        self.engine: AsyncEngine = create_database_engine(url)

    async def start(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(migrate)
        logger.info("Control plane storage ready at %s", display_url(self.url))

    async def close(self) -> None:
        await self.engine.dispose()

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back (with its audit row) on an exception."""
        async with self.engine.begin() as connection:
            yield connection

    async def audit(
        self,
        connection: AsyncConnection,
        actor: Actor,
        type: str,
        action: str,
        *,
        resource_id: str | None = None,
        summary: str = "",
        details: dict[str, Any] | None = None,
        at: datetime | None = None,
        acted_by: str | None = None,
    ) -> dict[str, Any]:
        """Insert the audit row of a write; `acted_by` names the actor when it is not the caller."""
        row = {
            "id": new_id("aud"),
            "at": at or self.now(),
            "type": type,
            "action": action,
            "resource_id": resource_id,
            "actor": acted_by or actor.client_id,
            "recorded_by": actor.client_id,
            "on_behalf_of": actor.on_behalf_of,
            "summary": summary,
            "details": details or {},
        }
        await connection.execute(insert(audit_log).values(**row))
        return row

    async def page(
        self,
        table: Table,
        conditions: Sequence[ColumnElement[bool]],
        *,
        order: Column[Any],
        newest_first: bool,
        limit: int,
        cursor: str | None,
    ) -> Listing:
        """Up to `limit` rows of `table` matching `conditions`, after `cursor`; InputError for a bad cursor."""
        key = table.c.id
        where = list(conditions)
        if cursor:
            at, last_id = _decode(cursor)
            after = order < at if newest_first else order > at
            tie = key < last_id if newest_first else key > last_id
            where.append(or_(after, and_(order == at, tie)))
        ordering = (order.desc(), key.desc()) if newest_first else (order.asc(), key.asc())
        async with self.read() as connection:
            result = await connection.execute(select(table).where(*where).order_by(*ordering).limit(limit + 1))
            rows = list(result.mappings())
        if len(rows) <= limit:
            return Listing(rows, None)
        rows = rows[:limit]
        return Listing(rows, _encode(rows[-1][order.name], rows[-1]["id"]))


def _encode(at: datetime, last_id: str) -> str:
    text = json.dumps([at.astimezone(UTC).isoformat(), last_id])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        at, last_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(last_id, str):
            raise ValueError(last_id)
        return datetime.fromisoformat(at).astimezone(UTC), last_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InputError("Invalid cursor: pass the next_cursor of a previous page unchanged.") from None
