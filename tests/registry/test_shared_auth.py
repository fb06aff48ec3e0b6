"""Signing keys and OAuth clients in the registry's database (several replicas), on a real PostgreSQL.

Each "replica" here is its own `AuthDatabase` (its own engine and connections), as in its own
process; `tests/registry/test_replicas.py` runs real registry processes.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import func, insert, select, text
from support.backends import free_port
from support.eventually import eventually_async
from support.postgres import PostgresProcess

from cli.auth import run_auth
from common.errors import ConfigError, InputError
from common.settings import ServeSettings, SettingsSource
from registry.auth_database import CLIENTS, KEYS, AuthDatabase
from registry.auth_storage import admin_auth, serving_auth
from registry.clients import ClientStore
from registry.keys import KeyStore
from registry.settings import RegistrySettings
from registry.shared_clients import SharedClients
from registry.shared_keys import SharedKeys

pytestmark = pytest.mark.anyio

TTL = 600
DELAY = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database_url(postgres: PostgresProcess) -> str:
    return postgres.fresh_database()


def settings(tmp_path: Path, database_url: str, **values: object) -> RegistrySettings:
    return RegistrySettings(serve=ServeSettings(port=8700), data_dir=tmp_path, database_url=database_url, **values)


@pytest.fixture
async def replica(database_url: str) -> AsyncIterator[tuple[SharedKeys, SharedClients]]:
    """The stores of one running replica (started, not refreshing on its own)."""
    database = AuthDatabase(database_url)
    await database.start()
    keys, clients = SharedKeys(database, "ES256", TTL, publish_delay=DELAY), SharedClients(database)
    await keys.start()
    await clients.refresh()
    yield keys, clients
    await database.close()


async def count(database_url: str, query: str) -> int:
    database = AuthDatabase(database_url)
    try:
        async with database.engine.connect() as connection:
            return int((await connection.execute(text(query))).scalar_one())
    finally:
        await database.close()


async def test_replicas_starting_at_once_on_an_empty_database_create_exactly_one_active_key(database_url: str) -> None:
    databases = [AuthDatabase(database_url) for _ in range(4)]
    replicas = [SharedKeys(database, "ES256", TTL, publish_delay=DELAY) for database in databases]

    async def start(database: AuthDatabase, keys: SharedKeys) -> None:
        await database.start()
        await keys.start()

    try:
        async with anyio.create_task_group() as group:
            for database, keys in zip(databases, replicas, strict=True):
                group.start_soon(start, database, keys)
        assert len({keys.signing_key().kid for keys in replicas}) == 1
        assert all(len(keys.jwks()["keys"]) == 1 for keys in replicas)
    finally:
        for database in databases:
            await database.close()
    assert await count(database_url, "SELECT count(*) FROM signing_keys") == 1


async def test_a_key_rotated_with_sre_auth_is_published_by_a_replica_at_its_next_refresh_and_signs_after_the_delay(
    tmp_path: Path, database_url: str, replica: tuple[SharedKeys, SharedClients]
) -> None:
    keys, _ = replica
    first = keys.signing_key()
    admin_keys, _ = await anyio.to_thread.run_sync(admin_auth, settings(tmp_path, database_url))
    rotated = await anyio.to_thread.run_sync(admin_keys.rotate)
    assert rotated.state == "pending"
    assert rotated.kid not in {key["kid"] for key in keys.jwks()["keys"]}  # not re-read yet

    await keys.refresh()
    assert {key["kid"] for key in keys.jwks()["keys"]} == {first.kid, rotated.kid}
    assert all("d" not in key for key in keys.jwks()["keys"])  # public parts only
    assert keys.signing_key().kid == first.kid  # until the publication delay has passed


async def test_a_key_no_longer_needed_is_deleted_from_the_database(database_url: str) -> None:
    clock = Clock()
    database = AuthDatabase(database_url)
    try:
        await database.start()
        keys = SharedKeys(database, "ES256", TTL, publish_delay=DELAY, clock=clock)
        await keys.start()
        old = keys.signing_key()
        new = await anyio.to_thread.run_sync(
            SharedKeys(AuthDatabase(database_url), "ES256", TTL, publish_delay=DELAY, clock=clock).rotate
        )
        clock.now += DELAY + TTL + 3600  # the old key retired, and every token it signed expired
        await keys.refresh()
        assert [info.kid for info in keys.list_keys()] == [new.kid]
        assert keys.signing_key().kid == new.kid != old.kid
    finally:
        await database.close()
    assert await count(database_url, "SELECT count(*) FROM signing_keys") == 1


async def test_a_client_added_with_sre_auth_is_known_to_a_replica_at_its_next_refresh_and_removed_likewise(
    tmp_path: Path, database_url: str, replica: tuple[SharedKeys, SharedClients]
) -> None:
    _, clients = replica
    _, admin = await anyio.to_thread.run_sync(admin_auth, settings(tmp_path, database_url))
    secret = await anyio.to_thread.run_sync(admin.add_client, "triage", ["metrics:read"])
    assert clients.verify("triage", secret) is None  # not re-read yet

    await clients.refresh()
    verified = clients.verify("triage", secret)
    assert verified is not None
    assert verified.scopes == ("metrics:read",)
    assert clients.verify("triage", secret + "x") is None
    database = AuthDatabase(database_url)
    async with database.engine.connect() as connection:
        stored = (await connection.execute(select(CLIENTS.c.secret_hash))).scalar_one()
    await database.close()
    assert stored.startswith("scrypt$")
    assert secret not in stored

    await anyio.to_thread.run_sync(admin.remove_client, "triage")
    await clients.refresh()
    assert clients.get("triage") is None
    assert not (tmp_path / "clients.toml").exists()  # the file is not used


async def test_two_additions_of_one_client_at_once_make_one_client(tmp_path: Path, database_url: str) -> None:
    admins = [(await anyio.to_thread.run_sync(admin_auth, settings(tmp_path, database_url)))[1] for _ in range(2)]
    outcomes: list[str] = []

    def add(admin: SharedClients) -> None:
        try:
            admin.add_client("triage", ["metrics:read"])
            outcomes.append("added")
        except InputError as exc:
            outcomes.append(str(exc))

    async with anyio.create_task_group() as group:
        for admin in admins:
            group.start_soon(anyio.to_thread.run_sync, add, admin)
    assert sorted(outcomes) == [
        "Client 'triage' already exists; use --rotate-secret to give it a new secret.",
        "added",
    ]
    assert await count(database_url, "SELECT count(*) FROM oauth_clients") == 1


async def test_a_damaged_client_row_is_skipped_and_the_others_still_authenticate(
    tmp_path: Path, database_url: str, replica: tuple[SharedKeys, SharedClients]
) -> None:
    _, clients = replica
    _, admin = await anyio.to_thread.run_sync(admin_auth, settings(tmp_path, database_url))
    secret = await anyio.to_thread.run_sync(admin.add_client, "triage", ["metrics:read"])
    database = AuthDatabase(database_url)
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(CLIENTS).values(name="edited", scopes=["root"], secret_hash="plain", created_at=0.0)
        )
    await database.close()
    await clients.refresh()
    assert clients.get("edited") is None
    assert clients.verify("triage", secret) is not None


async def test_a_replica_keeps_signing_and_authenticating_when_the_database_goes_away(
    tmp_path: Path, postgres: PostgresProcess
) -> None:
    url = postgres.create_database("going_away")
    configured = settings(tmp_path, url, auth_refresh_seconds=0.2)
    _, admin = await anyio.to_thread.run_sync(admin_auth, configured)
    secret = await anyio.to_thread.run_sync(admin.add_client, "triage", ["metrics:read"])
    async with serving_auth(configured) as (keys, clients):
        kid = keys.signing_key().kid
        database = AuthDatabase(postgres.url())
        async with database.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("DROP DATABASE going_away WITH (FORCE)"))
        await database.close()
        await anyio.sleep(1.0)  # several failed refreshes
        assert keys.signing_key().kid == kid
        assert [key["kid"] for key in keys.jwks()["keys"]] == [kid]
        assert clients.verify("triage", secret) is not None


async def test_a_running_replica_sees_a_new_client_within_the_refresh_time(tmp_path: Path, database_url: str) -> None:
    configured = settings(tmp_path, database_url, auth_refresh_seconds=0.2)
    async with serving_auth(configured) as (_, clients):
        _, admin = await anyio.to_thread.run_sync(admin_auth, configured)
        secret = await anyio.to_thread.run_sync(admin.add_client, "late", ["logs:read"])

        async def known() -> bool:
            return clients.verify("late", secret) is not None

        await eventually_async(known, timeout=5.0, what="the replica to know the new client")


def test_the_storage_follows_the_database_unless_a_setting_says_otherwise(tmp_path: Path) -> None:
    sqlite = RegistrySettings(serve=ServeSettings(port=8700), data_dir=tmp_path)
    postgresql = settings(tmp_path, "postgresql+asyncpg://registry@db.internal/registry")
    assert not sqlite.auth_in_database
    assert postgresql.auth_in_database
    assert not postgresql.model_copy(update={"auth_storage": "files"}).auth_in_database
    assert sqlite.model_copy(update={"auth_storage": "database"}).auth_in_database
    keys, clients = admin_auth(sqlite)
    assert isinstance(keys, KeyStore)
    assert isinstance(clients, ClientStore)


def test_keys_and_clients_can_live_in_a_sqlite_database_when_the_setting_says_so(tmp_path: Path) -> None:
    configured = RegistrySettings(serve=ServeSettings(port=8700), data_dir=tmp_path, auth_storage="database")
    _, clients = admin_auth(configured)
    secret = clients.add_client("triage", ["metrics:read"])
    _, again = admin_auth(configured)
    assert again.verify("triage", secret) is not None
    assert not (tmp_path / "clients.toml").exists()

    async def counted() -> int:
        database = AuthDatabase(configured.database)
        try:
            async with database.engine.connect() as connection:
                return int((await connection.execute(select(func.count()).select_from(KEYS))).scalar_one())
        finally:
            await database.close()

    assert anyio.run(counted) == 0  # the CLI reads keys; only a serving registry creates the first one


async def test_a_registry_whose_database_cannot_be_reached_does_not_start_and_says_which_database(
    tmp_path: Path,
) -> None:
    url = f"postgresql+asyncpg://registry:s3cret@127.0.0.1:{free_port()}/registry"
    with pytest.raises(ConfigError) as raised:
        async with serving_auth(settings(tmp_path, url)):
            pytest.fail("started without its database")
    message = str(raised.value)
    assert "Cannot use the registry database postgresql+asyncpg://registry:***@127.0.0.1:" in message
    assert "check REGISTRY_DATABASE_URL" in message
    assert "s3cret" not in message


def test_sre_auth_against_a_database_that_cannot_be_reached_fails_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+asyncpg://registry:s3cret@127.0.0.1:{free_port()}/registry"
    source = SettingsSource({"SRE_DATA_DIR": str(tmp_path), "REGISTRY_DATABASE_URL": url})
    assert run_auth(argparse.Namespace(auth_command="list-clients"), source) == 1
    printed = capsys.readouterr()
    assert printed.err.startswith("sre auth: Cannot use the registry database postgresql+asyncpg://registry:***@")
    assert "s3cret" not in printed.err + printed.out
