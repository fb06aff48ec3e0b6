"""Where the authorization server's signing keys and OAuth clients live, chosen from the settings.

`RegistrySettings.auth_in_database` (`REGISTRY_AUTH_STORAGE`; `auto`: when the database is
PostgreSQL) picks one of two implementations of `registry.keys.SigningKeys` and
`registry.clients.ClientDirectory`:

- files under SRE_DATA_DIR (`KeyStore`, `ClientStore`): the embedded default, one registry
  process; every call sees another process's change (the CLI's) at once;
- the registry's database (`SharedKeys`, `SharedClients`): several replicas, each re-reading the
  tables every `auth_refresh_seconds`, so a change made with `sre auth` or by another replica is
  seen everywhere within that time.

`serving_auth(settings)` gives the stores of a serving registry (for the database: tables
created, a signing key ensured, then refreshed in the background until the block ends);
`admin_auth(settings)` those of `sre auth` and `sre up`, synchronous, read once.

What stays per replica: the token endpoint's rate limits (`registry.token_limits`), in memory,
so N replicas admit up to N times the configured rates. They bound the CPU a flood costs each
replica, which a per-replica count does; a shared count would add a database write to every
token request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from common.errors import ConfigError
from common.task_groups import task_group
from registry.auth_database import DATABASE_ERRORS, AuthDatabase
from registry.clients import ClientDirectory, ClientStore
from registry.keys import KeyStore, SigningKeys
from registry.settings import RegistrySettings
from registry.shared_clients import SharedClients
from registry.shared_keys import SharedKeys

__all__ = ["admin_auth", "serving_auth"]

logger = logging.getLogger(__name__)


@asynccontextmanager
async def serving_auth(settings: RegistrySettings) -> AsyncIterator[tuple[SigningKeys, ClientDirectory]]:
    if not settings.auth_in_database:
        yield KeyStore.for_settings(settings), ClientStore(settings.clients_path)
        return
    database = AuthDatabase(settings.database)
    keys, clients = SharedKeys.for_settings(settings, database), SharedClients(database)
    try:
        try:
            await database.start()
            await keys.start()
            await clients.refresh()
        except DATABASE_ERRORS as exc:
            # Nothing to sign with yet: the registry cannot start (a clear line, not a traceback).
            raise ConfigError(database.failure(exc)) from None
        logger.info(
            "Signing keys and OAuth clients are in the database %s, re-read every %g s",
            database.display_url,
            settings.auth_refresh_seconds,
        )
        async with task_group() as tasks:
            tasks.start_soon(_refresh_forever, keys, clients, settings.auth_refresh_seconds)
            yield keys, clients
            tasks.cancel_scope.cancel()
    finally:
        await database.close()


def admin_auth(settings: RegistrySettings) -> tuple[SigningKeys, ClientDirectory]:
    """The stores `sre auth` and `sre up` change, from synchronous code (outside any event loop)."""
    if not settings.auth_in_database:
        return KeyStore.for_settings(settings), ClientStore(settings.clients_path)
    database = AuthDatabase(settings.database)
    keys, clients = SharedKeys.for_settings(settings, database), SharedClients(database)

    async def load() -> None:
        await database.start()
        await keys.load()
        await clients.refresh()

    database.blocking(load)
    return keys, clients


async def _refresh_forever(keys: SharedKeys, clients: SharedClients, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            await keys.refresh()
            await clients.refresh()
        except Exception:  # a database hiccup must not stop this replica signing with what it has
            logger.exception(
                "Could not re-read signing keys and clients; keeping the last ones, retrying in %g s", interval
            )
