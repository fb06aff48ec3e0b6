"""The Alembic migrations build exactly the schema of `controlplane.tables`, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from controlplane.store import ControlPlaneStore
from controlplane.tables import metadata

pytestmark = pytest.mark.anyio


async def test_the_migrated_schema_equals_the_metadata(database_url: str) -> None:
    store = ControlPlaneStore(database_url)
    await store.start()
    await store.start()  # a second start-up finds the schema current and changes nothing
    try:
        async with store.engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            revision = await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await store.close()
    assert diff == []
    assert tables == {*metadata.tables, "alembic_version"}
    assert revision == "0001"


def test_every_migration_creates_tables_explicitly() -> None:
    versions = Path(__file__).resolve().parents[2] / "controlplane" / "migrations" / "versions"
    for script in versions.glob("*.py"):
        assert "create_all" not in script.read_text()
