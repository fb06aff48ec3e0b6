"""A lock several registry replicas on one database take around what must happen once.

`hold_lock(connection, name)` inside a transaction that may write (`engine.begin()`):

- PostgreSQL: `pg_advisory_xact_lock` on a 64-bit number derived from `name`; it is held until
  the transaction ends (commit, rollback or a dropped connection), so a replica that dies holding
  it cannot block the others;
- SQLite: nothing more to take: such a transaction already begins with `BEGIN IMMEDIATE`
  (`common.database`), which excludes every other writer of the file until it ends.

Used for schema creation (two replicas starting at once on an empty database would both run
`CREATE TABLE`, and one would fail) and for creating the first signing key (exactly one).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["hold_lock"]


async def hold_lock(connection: AsyncConnection, name: str) -> None:
    if connection.dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"sre-registry:{name}".encode(), digest_size=8).digest()
    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest, signed=True)})
