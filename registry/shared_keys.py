"""Signing keys in the registry's database (`registry.auth_database`), the same for every replica.

`SharedKeys` keeps the contract of `registry.keys` (states from the times, publication delay,
removal after the last token expired); what differs from the files:

- every replica holds the keys in memory and re-reads the table every `auth_refresh_seconds`
  (`refresh()`, run by `registry.auth_storage`); signing and the JWKS never wait for the
  database, and a database that cannot be reached leaves the last keys in use (logged);
- a key rotated in (`sre auth rotate-keys` against the database) is published by every replica
  within that refresh time; it signs only after `publish_delay` (default 60 s), which must exceed
  the refresh time plus verifiers' 30 s JWKS cooldown, so every verifier can fetch it first;
- `start()` creates a key, active at once, when none of the configured algorithm can sign, under
  the database lock: replicas starting at once on an empty database create exactly one. A later
  refresh creates one only if no key at all signs (rows deleted by hand), so replicas configured
  with different algorithms do not take turns creating keys: `signing_key()` then fails with an
  error saying so (every replica must have the same `REGISTRY_SIGNING_ALGORITHM`);
- activation times are wall-clock seconds, compared by every replica with its own clock: keep the
  replicas' clocks synchronised (NTP); a skew of a few seconds only shifts when a key signs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
from joserfc.errors import JoseError
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from common.errors import BackendUnavailable, ConfigError
from registry.auth_database import KEYS, AuthDatabase
from registry.keys import (
    Algorithm,
    KeyInfo,
    SigningKey,
    SigningKeys,
    generate_key,
    key_document,
    key_from_document,
    key_order,
)
from registry.settings import RegistrySettings

__all__ = ["SharedKeys"]

logger = logging.getLogger(__name__)


class SharedKeys(SigningKeys):
    """The keys of table `signing_keys`, held in memory between refreshes."""

    def __init__(
        self,
        database: AuthDatabase,
        algorithm: Algorithm,
        token_ttl: float,
        *,
        publish_delay: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(algorithm, token_ttl, publish_delay=publish_delay, clock=clock)
        self._database = database
        # Rows never change: a key is parsed once, when it first appears.
        self._parsed: dict[str, SigningKey] = {}
        self._unreadable: set[str] = set()
        self._lock = threading.Lock()  # token requests sign in worker threads

    @classmethod
    def for_settings(cls, settings: RegistrySettings, database: AuthDatabase) -> SharedKeys:
        return cls(
            database,
            settings.signing_algorithm,
            settings.token_ttl_seconds,
            publish_delay=settings.key_publish_delay_seconds,
        )

    async def start(self) -> None:
        """Read the keys; create one if none of the configured algorithm signs (once across replicas)."""
        await self.load()
        if not self._usable(self._clock()):
            await self._create_first()

    async def refresh(self) -> None:
        """Read the keys again, delete those no longer published; create one if none signs at all."""
        await self.load()
        now = self._clock()
        if self._active(now) is None:
            await self._create_first()

    async def load(self) -> None:
        async with self._database.engine.connect() as connection:
            keys = await self._read(connection)
        now = self._clock()
        with self._lock:
            self._keys = keys
            expired = self._expired(now)
            self._keys = [key for key in keys if key.kid not in expired]
        if expired:
            async with self._database.engine.begin() as connection:
                # Any replica may delete them, any number of times: the rows never come back.
                await connection.execute(delete(KEYS).where(KEYS.c.kid.in_(expired)))
            for kid in expired:
                logger.info("Signing key %s removed: every token it signed has expired", kid)

    def signing_key(self) -> SigningKey:
        with self._lock:
            active = self._active(self._clock())
        if active is None:
            raise BackendUnavailable(
                "No signing key is in the registry database yet; the registry creates one at start (see its log).",
                backend="registry database",
            )
        if active.algorithm != self.algorithm:
            raise ConfigError(
                f"The active signing key {active.kid} is {active.algorithm} but this replica is configured for "
                f"{self.algorithm}: give every replica the same REGISTRY_SIGNING_ALGORITHM."
            )
        return active

    def rotate(self) -> KeyInfo:
        """Add a key to the database (from synchronous code: `sre auth rotate-keys`)."""
        return self._database.blocking(self._rotate)

    def list_keys(self) -> list[KeyInfo]:
        with self._lock:
            return self._infos(self._clock())

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return self._public()

    def _usable(self, now: float) -> bool:
        active = self._active(now)
        return active is not None and active.algorithm == self.algorithm

    async def _rotate(self) -> KeyInfo:
        await self.load()
        now = self._clock()
        key = await self._insert(activates_at=self._rotation_start(now))
        return self._info(key.kid, now)

    async def _create_first(self) -> None:
        async with self._database.locked() as connection:
            # Another replica may have created it while this one waited for the lock.
            keys = await self._read(connection)
            with self._lock:
                self._keys = keys
            now = self._clock()
            if self._usable(now):
                return
            await self._insert(activates_at=now, connection=connection)

    async def _insert(self, *, activates_at: float, connection: AsyncConnection | None = None) -> SigningKey:
        key = await anyio.to_thread.run_sync(
            lambda: generate_key(self.algorithm, created_at=self._clock(), activates_at=activates_at)
        )
        row = {"kid": key.kid, "algorithm": key.algorithm, "document": key_document(key)}
        if connection is None:
            async with self._database.engine.begin() as own:
                await own.execute(insert(KEYS).values(**row))
        else:
            await connection.execute(insert(KEYS).values(**row))
        self._parsed[key.kid] = key
        with self._lock:
            self._keys = sorted([*self._keys, key], key=key_order)
        logger.info("Signing key %s (%s) created; signs from %s", key.kid, key.algorithm, _iso(activates_at))
        return key

    async def _read(self, connection: AsyncConnection) -> list[SigningKey]:
        rows = (await connection.execute(select(KEYS.c.kid, KEYS.c.document))).all()
        keys = []
        for kid, document in rows:
            key = self._parsed.get(kid)
            if key is None and kid not in self._unreadable:
                try:
                    key = self._parsed[kid] = key_from_document(document, kid)
                except (ValueError, KeyError, TypeError, JoseError) as exc:
                    # One damaged row must not stop token issuance with the others; said once.
                    self._unreadable.add(kid)
                    logger.error("Ignoring unreadable signing key %s in the database: %s", kid, type(exc).__name__)
            if key is not None:
                keys.append(key)
        return sorted(keys, key=key_order)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
