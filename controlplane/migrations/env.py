"""Alembic environment of the control plane's database, for async engines.

At start-up the control plane runs `upgrade head` itself (`controlplane.store.migrate`) on the
connection it opened, handed over in `config.attributes["connection"]`. Run by hand
(`alembic -x url=sqlite+aiosqlite:///... upgrade head` with a config whose `script_location`
is this directory), it opens its own async engine from `-x url=` or `sqlalchemy.url`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from controlplane.tables import metadata


def run_with(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_with)
    finally:
        await engine.dispose()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("No database: pass -x url=... or set sqlalchemy.url.")
    asyncio.run(run_with_own_engine(url))


main()
