"""Persistent registry storage: SQLite by default, PostgreSQL by URL, one SQLAlchemy async code path.

Two tables, `agents` and `servers`, one row per name. The registration is kept whole as a JSON
document; the columns beside it (url, tenant, health, timestamps) are what queries filter and
sort on. Timestamps are stored as Unix seconds (floats) so both databases compare them the
same way, with no time-zone conversion.

Contract:
- `register_*` upserts by name and says whether the name was new; a re-registration counts as
  "seen" and keeps the health unless the URL changed (then health is `unknown` again);
- `mark_health` applies only while the entry still has the URL that was probed, so a probe
  racing a re-registration cannot mark the new URL;
- `expire_stale` deletes entries neither seen nor healthy for `stale_after` seconds.

The schema is created on `start()` with `create_all` (no migrations yet: the tables are new and
a change of schema will need an Alembic revision).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    JSON,
    Column,
    Float,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from common.database import create_database_engine, display_url
from registry.models import AgentEntry, AgentRegistration, HealthStatus, ServerEntry, ServerRegistration

__all__ = ["Kind", "ProbeTarget", "RegistryStore"]

logger = logging.getLogger(__name__)

Kind = Literal["agents", "servers"]
EntryT = TypeVar("EntryT", AgentEntry, ServerEntry)

_MAX_ERROR_CHARS = 500

metadata = MetaData()


def _entries_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("name", String(64), primary_key=True),
        Column("url", String(2048), nullable=False, index=True),
        Column("tenant", String(64), nullable=True, index=True),
        Column("document", JSON, nullable=False),
        Column("health_status", String(16), nullable=False, index=True),
        Column("last_checked", Float, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("last_healthy", Float, nullable=True),
        Column("registered_at", Float, nullable=False),
        Column("last_seen", Float, nullable=False, index=True),
    )


TABLES: dict[Kind, Table] = {"agents": _entries_table("agents"), "servers": _entries_table("servers")}


@dataclass(frozen=True)
class ProbeTarget:
    kind: Kind
    name: str
    url: str


class RegistryStore:
    """Agents and MCP servers in one database; create with a SQLAlchemy async URL, then `start()`."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self._clock = clock
        self._display_url = display_url(url)
        self._engine: AsyncEngine = create_database_engine(url)

    async def start(self) -> None:
        async with self._engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        logger.info("Registry storage ready at %s", self._display_url)

    async def close(self) -> None:
        await self._engine.dispose()

    # -- registration --------------------------------------------------------------------------

    async def register_agent(self, registration: AgentRegistration) -> tuple[AgentEntry, bool]:
        created = await self._upsert("agents", registration.name, registration.url, registration.tenant, registration)
        entry = await self.get_agent(registration.name)
        assert entry is not None  # just written; a concurrent delete is the only way to miss it
        return entry, created

    async def register_server(self, registration: ServerRegistration) -> tuple[ServerEntry, bool]:
        created = await self._upsert("servers", registration.name, registration.url, registration.tenant, registration)
        entry = await self.get_server(registration.name)
        assert entry is not None
        return entry, created

    async def deregister(self, kind: Kind, name: str) -> bool:
        table = TABLES[kind]
        async with self._engine.begin() as connection:
            result = await connection.execute(delete(table).where(table.c.name == name))
        return result.rowcount > 0

    # -- reads ---------------------------------------------------------------------------------

    async def get_agent(self, name: str) -> AgentEntry | None:
        rows = await self._select("agents", TABLES["agents"].c.name == name)
        return _entry(AgentEntry, rows[0]) if rows else None

    async def get_server(self, name: str) -> ServerEntry | None:
        rows = await self._select("servers", TABLES["servers"].c.name == name)
        return _entry(ServerEntry, rows[0]) if rows else None

    async def list_agents(self, tenant: str | None = None) -> list[AgentEntry]:
        """Every agent (of `tenant`, when given), sorted by name."""
        return [_entry(AgentEntry, row) for row in await self._select("agents", *_tenant_filter("agents", tenant))]

    async def list_servers(self, tenant: str | None = None) -> list[ServerEntry]:
        return [_entry(ServerEntry, row) for row in await self._select("servers", *_tenant_filter("servers", tenant))]

    async def resource_urls(self) -> set[str]:
        """Canonical URLs of every registered server and agent (token audiences)."""
        urls: set[str] = set()
        async with self._engine.connect() as connection:
            for table in TABLES.values():
                urls.update((await connection.execute(select(table.c.url))).scalars())
        return urls

    # -- health --------------------------------------------------------------------------------

    async def probe_targets(self) -> list[ProbeTarget]:
        targets: list[ProbeTarget] = []
        async with self._engine.connect() as connection:
            for kind, table in TABLES.items():
                rows = await connection.execute(select(table.c.name, table.c.url).order_by(table.c.name))
                targets.extend(ProbeTarget(kind, name, url) for name, url in rows)
        return targets

    async def mark_health(self, target: ProbeTarget, status: HealthStatus, error: str | None = None) -> bool:
        """Record a probe's outcome; False if the entry is gone or now has another URL."""
        table = TABLES[target.kind]
        now = self._clock()
        values: dict[str, Any] = {
            "health_status": status,
            "last_checked": now,
            "last_error": error[:_MAX_ERROR_CHARS] if error else None,
        }
        if status == "healthy":
            values["last_healthy"] = now
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(table).where(table.c.name == target.name, table.c.url == target.url).values(**values)
            )
        return result.rowcount > 0

    async def expire_stale(self, stale_after_seconds: float) -> list[tuple[Kind, str]]:
        """Delete entries neither (re-)registered nor found healthy within `stale_after_seconds`."""
        cutoff = self._clock() - stale_after_seconds
        expired: list[tuple[Kind, str]] = []
        async with self._engine.begin() as connection:
            for kind, table in TABLES.items():
                stale = and_(
                    table.c.last_seen < cutoff, or_(table.c.last_healthy.is_(None), table.c.last_healthy < cutoff)
                )
                names = list((await connection.execute(select(table.c.name).where(stale))).scalars())
                if names:
                    # The condition is repeated so an entry re-registered meanwhile survives.
                    await connection.execute(delete(table).where(table.c.name.in_(names), stale))
                    expired.extend((kind, name) for name in names)
        return expired

    # -- internals -----------------------------------------------------------------------------

    async def _upsert(
        self, kind: Kind, name: str, url: str, tenant: str | None, registration: AgentRegistration | ServerRegistration
    ) -> bool:
        table = TABLES[kind]
        now = self._clock()
        values = {"url": url, "tenant": tenant, "document": registration.model_dump(mode="json"), "last_seen": now}
        # Two first registrations of one name can race; the loser's INSERT fails on the primary
        # key and its second attempt finds the row and updates it.
        for attempt in range(2):
            try:
                async with self._engine.begin() as connection:
                    current = (await connection.execute(select(table.c.url).where(table.c.name == name))).scalar()
                    if current is None:
                        await connection.execute(
                            insert(table).values(name=name, registered_at=now, health_status="unknown", **values)
                        )
                        return True
                    changes = dict(values)
                    if current != url:
                        changes.update(health_status="unknown", last_checked=None, last_error=None, last_healthy=None)
                    await connection.execute(update(table).where(table.c.name == name).values(**changes))
                    return False
            except IntegrityError:
                if attempt == 1:
                    raise
        raise AssertionError("unreachable: the loop returns or raises")

    async def _select(self, kind: Kind, *conditions: Any) -> list[RowMapping]:
        table = TABLES[kind]
        async with self._engine.connect() as connection:
            result = await connection.execute(select(table).where(*conditions).order_by(table.c.name))
            return list(result.mappings())


def _tenant_filter(kind: Kind, tenant: str | None) -> tuple[Any, ...]:
    return () if tenant is None else (TABLES[kind].c.tenant == tenant,)


def _entry(model: type[EntryT], row: RowMapping) -> EntryT:
    return model.model_validate(
        {
            **row["document"],
            "health": {
                "status": row["health_status"],
                "last_checked": _datetime(row["last_checked"]),
                "last_error": row["last_error"],
            },
            "registered_at": _datetime(row["registered_at"]),
            "last_seen": _datetime(row["last_seen"]),
        }
    )


def _datetime(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)
