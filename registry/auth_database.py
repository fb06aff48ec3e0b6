"""The authorization server's tables in the registry's database, shared by several replicas.

Used when `RegistrySettings.auth_in_database` (by default: when the registry's database is
PostgreSQL), so that every replica signs with the same active key, publishes the same JWKS and
knows the same clients (`registry.shared_keys`, `registry.shared_clients`):

- `signing_keys`: one row per key, written once and never changed: `kid` (its RFC 7638
  thumbprint), `algorithm`, and `document`, the private JWK with its times exactly as a key file
  holds them (`registry.keys.key_document`). A row is deleted once every token its key signed has
  expired.
- `oauth_clients`: one row per client: `name`, `scopes` (a JSON list), `secret_hash` (salted
  scrypt, as in the clients file: never a secret), `created_at` (Unix seconds).

Whoever can read `signing_keys` can sign tokens every resource accepts: access to the database
(its credentials, backups, read replicas, dumps) must be kept as secret as the key files were.

`locked()` is a transaction holding the lock of `registry.database_locks`: schema creation and
the creation of a key when none can sign run in it, so replicas starting at once on an empty
database create the tables once and exactly one active key. Synchronous callers (`sre auth`,
`sre up`) run an operation with `blocking()`, on an event loop of their own.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
from sqlalchemy import JSON, Column, Float, MetaData, String, Table, Text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.database import create_database_engine, display_url
from common.errors import BackendUnavailable
from registry.database_locks import hold_lock

__all__ = ["CLIENTS", "DATABASE_ERRORS", "KEYS", "AuthDatabase"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: What a database that is down, unreachable or refusing raises.
DATABASE_ERRORS = (SQLAlchemyError, OSError)

metadata = MetaData()

KEYS = Table(
    "signing_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("document", JSON, nullable=False),
)

CLIENTS = Table(
    "oauth_clients",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("scopes", JSON, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)


class AuthDatabase:
    """The engine of the registry's database for the authorization server's tables; `start()` creates them."""

    def __init__(self, url: str) -> None:
        self.display_url = display_url(url)
        self.engine: AsyncEngine = create_database_engine(url)

    async def start(self) -> None:
        async with self.locked() as connection:
            await connection.run_sync(metadata.create_all)

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that no other replica's `locked()` runs beside."""
        async with self.engine.begin() as connection:
            await hold_lock(connection, "authorization")
            yield connection

    async def close(self) -> None:
        await self.engine.dispose()

    def failure(self, exc: BaseException) -> str:
        """What to tell whoever used the database when it failed with `exc` (no credentials in it)."""
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        return (
            f"Cannot use the registry database {self.display_url} ({type(exc).__name__}: {detail}); check "
            "REGISTRY_DATABASE_URL and that the database is up."
        )

    def blocking(self, operation: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`operation(*args)` run from synchronous code, outside any event loop (the CLI).

        Database errors become `BackendUnavailable` naming the database, for the CLI to print.
        """

        async def once() -> T:
            try:
                return await operation(*args)
            except DATABASE_ERRORS as exc:
                raise BackendUnavailable(self.failure(exc), backend="registry database") from None
            finally:
                # Its connections belong to this event loop, which ends here.
                await self.engine.dispose()

        return anyio.run(once)
