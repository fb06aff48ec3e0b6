"""The Alembic migrations build exactly the schema of `controlplane.tables`, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, text
from support.postgres import PostgresProcess

from controlplane.models import Resource
from controlplane.store import MIGRATIONS, ControlPlaneStore
from controlplane.tables import metadata, resource_selectors, resources

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
    assert revision == "0002"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'controlplane.db'}"
    postgres: PostgresProcess = request.getfixturevalue("postgres")
    return postgres.fresh_database()


async def test_resources_stored_at_0001_read_back_with_no_selector(empty_database_url: str) -> None:
    store = ControlPlaneStore(empty_database_url)
    try:
        async with store.engine.begin() as connection:
            await connection.run_sync(lambda sync: _upgrade(sync, "0001"))
            await connection.execute(text(_OLD_RESOURCE))
        await store.start()
        async with store.engine.connect() as connection:
            row = (await connection.execute(select(resources))).mappings().one()
            selector_rows = (await connection.execute(select(resource_selectors))).all()
    finally:
        await store.close()
    resource = Resource.model_validate(dict(row))
    assert (resource.name, resource.labels, resource.selector) == ("checkout", {"team": "a"}, {})
    assert selector_rows == []


# A resource as version 0001 stored it, before resources had a selector.
_OLD_RESOURCE = """
INSERT INTO resources
    (id, namespace, name, kind, version, replicas, owner, dependencies, labels, created_at, updated_at)
VALUES ('res_000000000001', 'shop', 'checkout', 'deployment', '1.0', 2, NULL, '[]', '{"team": "a"}',
        '2026-12-01 10:00:00', '2026-12-01 10:00:00')
"""


def _upgrade(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
