"""Persistent registry storage: SQLite by default, PostgreSQL by URL, one SQLAlchemy async code path.

Two tables, `agents` and `servers`, one row per name. The registration is kept whole as a JSON
document; the columns beside it (url, tenant, owner, health, timestamps) are what queries filter
and sort on, or what the registry knows beside the registration. Timestamps are stored as Unix
seconds (floats) so both databases compare them the same way, with no time-zone conversion.

Contract:
- `register_*` and `deregister` apply `registry.ownership` in the transaction that writes, so
  two clients racing for one name cannot both win; the entry's owner is the client id stored
  with it;
- `register_*` upserts by name and says whether the name was new; a re-registration counts as
  "seen" and keeps the health unless the URL changed (then health is `unknown` again);
- `mark_health` applies only while the entry still has the URL that was probed, so a probe
  racing a re-registration cannot mark the new URL;
- `expire_stale` deletes entries neither seen nor healthy for `stale_after` seconds.

Several registry replicas may share one PostgreSQL database: every write above is one
transaction whose conditions are re-checked where it writes, and `start()` creates the schema
holding a lock (`registry.database_locks`), so replicas starting at once create it once.

The schema is created on `start()` with `create_all`; a database from before entries had owners
gets the `owner` column added (empty: such entries are claimed by their next registration). That
one added column is the only change of schema so far; the next one needs Alembic revisions, as
the control plane has.
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
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from common.database import create_database_engine, display_url
from common.rest import HttpError
from registry.database_locks import hold_lock
from registry.models import AgentEntry, AgentRegistration, HealthStatus, ServerEntry, ServerRegistration
from registry.ownership import ANONYMOUS, Ownership, Writer
from registry.settings import RegistrySettings

__all__ = ["Kind", "ProbeTarget", "RegistryStore"]

logger = logging.getLogger(__name__)

Kind = Literal["agents", "servers"]
EntryT = TypeVar("EntryT", AgentEntry, ServerEntry)

_MAX_ERROR_CHARS = 500
#: Tries of a registration racing others for one name; each lost race means another writer won.
_ATTEMPTS = 3

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
        # The client id of the token that created the entry; NULL for entries from before owners.
        Column("owner", String(64), nullable=True),
    )


TABLES: dict[Kind, Table] = {"agents": _entries_table("agents"), "servers": _entries_table("servers")}


@dataclass(frozen=True)
class ProbeTarget:
    kind: Kind
    name: str
    url: str


class RegistryStore:
    """Agents and MCP servers in one database; create with a SQLAlchemy async URL, then `start()`."""

    def __init__(self, url: str, *, ownership: Ownership | None = None, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.ownership = ownership or Ownership()
        self._clock = clock
        self._display_url = display_url(url)
        self._engine: AsyncEngine = create_database_engine(url)

    @classmethod
    def for_settings(cls, settings: RegistrySettings) -> RegistryStore:
        """The store of the configured database, with the configured name reservations."""
        return cls(settings.database, ownership=Ownership(settings.reserved_names))

    async def start(self) -> None:
        async with self._engine.begin() as connection:
            # Replicas starting at once on an empty database: one creates the tables, the others then find them.
            await hold_lock(connection, "schema")
            await connection.run_sync(_create_schema)
        logger.info("Registry storage ready at %s", self._display_url)

    async def close(self) -> None:
        await self._engine.dispose()

    # -- registration --------------------------------------------------------------------------

    async def register_agent(
        self, registration: AgentRegistration, writer: Writer = ANONYMOUS
    ) -> tuple[AgentEntry, bool]:
        """The entry and whether it is new; HttpError 409 when the name belongs to another client."""
        created = await self._upsert("agents", registration, writer)
        entry = await self.get_agent(registration.name)
        assert entry is not None  # just written; a concurrent delete is the only way to miss it
        return entry, created

    async def register_server(
        self, registration: ServerRegistration, writer: Writer = ANONYMOUS
    ) -> tuple[ServerEntry, bool]:
        created = await self._upsert("servers", registration, writer)
        entry = await self.get_server(registration.name)
        assert entry is not None
        return entry, created

    async def deregister(self, kind: Kind, name: str, writer: Writer = ANONYMOUS) -> bool:
        """False when there is no such entry; HttpError 403 when it belongs to another client."""
        table = TABLES[kind]
        async with self._engine.begin() as connection:
            row = (await connection.execute(select(table.c.owner).where(table.c.name == name))).first()
            if row is None:
                return False
            self.ownership.check_deregistration(kind, name, row.owner, writer)
            # Only the entry whose owner was checked (a racing claim may have given it another).
            unchanged_owner = table.c.owner.is_(None) if row.owner is None else table.c.owner == row.owner
            result = await connection.execute(delete(table).where(table.c.name == name, unchanged_owner))
        return result.rowcount > 0

    # -- reads ---------------------------------------------------------------------------------

    async def get_agent(self, name: str) -> AgentEntry | None:
        rows = await self._select("agents", TABLES["agents"].c.name == name)
        return self._entry(AgentEntry, rows[0]) if rows else None

    async def get_server(self, name: str) -> ServerEntry | None:
        rows = await self._select("servers", TABLES["servers"].c.name == name)
        return self._entry(ServerEntry, rows[0]) if rows else None

    async def list_agents(self, tenant: str | None = None) -> list[AgentEntry]:
        """Every agent (of `tenant`, when given), sorted by name."""
        return [self._entry(AgentEntry, row) for row in await self._select("agents", *_tenant_filter("agents", tenant))]

    async def list_servers(self, tenant: str | None = None) -> list[ServerEntry]:
        rows = await self._select("servers", *_tenant_filter("servers", tenant))
        return [self._entry(ServerEntry, row) for row in rows]

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

    async def _upsert(self, kind: Kind, registration: AgentRegistration | ServerRegistration, writer: Writer) -> bool:
        table = TABLES[kind]
        name, url = registration.name, registration.url
        now = self._clock()
        values = {
            "url": url,
            "tenant": registration.tenant,
            "document": registration.model_dump(mode="json"),
            "last_seen": now,
        }
        # Two first registrations of one name can race: the loser's INSERT fails on the primary key.
        # Two claims of an entry without owner can race too: the loser's UPDATE, conditioned on the
        # owner it read, changes nothing. Either way the next attempt decides on what the winner wrote.
        for attempt in range(_ATTEMPTS):
            try:
                async with self._engine.begin() as connection:
                    current = (
                        await connection.execute(select(table.c.url, table.c.owner).where(table.c.name == name))
                    ).first()
                    owner = self.ownership.owner_after_registration(
                        kind, name, current.owner if current else None, writer
                    )
                    if current is None:
                        await connection.execute(
                            insert(table).values(
                                name=name, registered_at=now, health_status="unknown", owner=owner, **values
                            )
                        )
                        return True
                    changes = {**values, "owner": owner}
                    if current.url != url:
                        changes.update(health_status="unknown", last_checked=None, last_error=None, last_healthy=None)
                    unchanged_owner = (
                        table.c.owner.is_(None) if current.owner is None else table.c.owner == current.owner
                    )
                    updated = await connection.execute(
                        update(table).where(table.c.name == name, unchanged_owner).values(**changes)
                    )
                    if updated.rowcount == 1:
                        return False
            except IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise HttpError(409, "conflict", f"{name!r} was changed by other registrations meanwhile; send it again.")

    def _entry(self, model: type[EntryT], row: RowMapping) -> EntryT:
        return model.model_validate(
            {
                **row["document"],
                "health": {
                    "status": row["health_status"],
                    "last_checked": _datetime(row["last_checked"]),
                    "last_error": row["last_error"],
                },
                "reserved": self.ownership.is_reserved(row["name"], row["owner"]),
                "registered_at": _datetime(row["registered_at"]),
                "last_seen": _datetime(row["last_seen"]),
            }
        )

    async def _select(self, kind: Kind, *conditions: Any) -> list[RowMapping]:
        table = TABLES[kind]
        async with self._engine.connect() as connection:
            result = await connection.execute(select(table).where(*conditions).order_by(table.c.name))
            return list(result.mappings())


def _tenant_filter(kind: Kind, tenant: str | None) -> tuple[Any, ...]:
    return () if tenant is None else (TABLES[kind].c.tenant == tenant,)


def _create_schema(connection: Connection) -> None:
    metadata.create_all(connection)
    inspector = inspect(connection)
    for table in TABLES.values():
        if "owner" not in {column["name"] for column in inspector.get_columns(table.name)}:
            # A database from before entries had owners; the names are this module's constants.
            connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN owner VARCHAR(64)"))
            logger.info("Added the owner column to the registry's %s table", table.name)


def _datetime(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)
