"""OAuth clients in the registry's database (`registry.auth_database`), the same for every replica.

`SharedClients` keeps the contract of `registry.clients` (secrets only as scrypt hashes, constant
time checks, known scopes only); what differs from the file:

- every replica holds the clients in memory and re-reads the table every `auth_refresh_seconds`
  (`refresh()`, run by `registry.auth_storage`), so a client added, given a new secret or
  removed with `sre auth` against the database takes effect on every replica within that time.
  A token request never waits for the database; one that cannot be reached leaves the last
  clients in use (logged), and a row that is not a valid client is skipped (logged), the others
  kept;
- `add_client` and `remove_client` are for synchronous callers (`sre auth`, `sre up`): they run
  on an event loop of their own. Two replicas or CLIs adding one name at once: one INSERT wins on
  the primary key, the other is refused as "already exists"; rotating a secret updates one row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

import anyio
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from common.errors import ConfigError, InputError
from registry.auth_database import CLIENTS, AuthDatabase
from registry.clients import (
    ClientDirectory,
    OAuthClient,
    check_client_name,
    log_client_added,
    new_secret,
    parse_client,
    planned_client,
    unknown_client,
)

__all__ = ["SharedClients"]

logger = logging.getLogger(__name__)


class SharedClients(ClientDirectory):
    """The clients of table `oauth_clients`, held in memory between refreshes."""

    def __init__(self, database: AuthDatabase) -> None:
        super().__init__()
        self._database = database
        # Replaced whole by `refresh()`: readers in worker threads see the old or the new dict, never half.
        self._clients: dict[str, OAuthClient] = {}
        self._invalid: set[tuple[str, str]] = set()

    def get(self, client_id: str) -> OAuthClient | None:
        return self._clients.get(client_id)

    def list_clients(self) -> list[OAuthClient]:
        return sorted(self._clients.values(), key=lambda client: client.name)

    async def refresh(self) -> None:
        async with self._database.engine.connect() as connection:
            self._clients = await self._read(connection)

    def add_client(self, name: str, scopes: Iterable[str] | None, *, rotate_secret: bool = False) -> str:
        return self._database.blocking(self._add, name, scopes, rotate_secret)

    def remove_client(self, name: str) -> None:
        self._database.blocking(self._remove, name)

    async def _add(self, name: str, scopes: Iterable[str] | None, rotate_secret: bool) -> str:
        check_client_name(name)
        secret, secret_hash = await anyio.to_thread.run_sync(new_secret)
        try:
            async with self._database.engine.begin() as connection:
                existing = (await self._read(connection, name)).get(name)
                client = planned_client(name, scopes, existing, rotate_secret=rotate_secret, secret_hash=secret_hash)
                row = {
                    "scopes": list(client.scopes),
                    "secret_hash": client.secret_hash,
                    "created_at": client.created_at.timestamp(),
                }
                if existing is None:
                    await connection.execute(insert(CLIENTS).values(name=name, **row))
                else:
                    await connection.execute(update(CLIENTS).where(CLIENTS.c.name == name).values(**row))
        except IntegrityError:
            raise InputError(f"Client {name!r} already exists; use --rotate-secret to give it a new secret.") from None
        log_client_added(client, rotated=existing is not None)
        await self.refresh()
        return secret

    async def _remove(self, name: str) -> None:
        async with self._database.engine.begin() as connection:
            removed = await connection.execute(delete(CLIENTS).where(CLIENTS.c.name == name))
        if removed.rowcount == 0:
            raise unknown_client(name)
        logger.info("OAuth client %s removed", name)
        await self.refresh()

    async def _read(self, connection: AsyncConnection, name: str | None = None) -> dict[str, OAuthClient]:
        query = select(CLIENTS)
        if name is not None:
            query = query.where(CLIENTS.c.name == name)
        clients = {}
        for row in (await connection.execute(query)).mappings():
            entry = {**row, "created_at": datetime.fromtimestamp(row["created_at"], UTC)}
            try:
                clients[row["name"]] = parse_client(f"table {CLIENTS.name}", row["name"], entry)
            except ConfigError as exc:
                # One bad row must not lock every client out; said once per row version.
                if (row["name"], row["secret_hash"]) not in self._invalid:
                    self._invalid.add((row["name"], row["secret_hash"]))
                    logger.error("%s Skipping it.", exc)
        return clients
