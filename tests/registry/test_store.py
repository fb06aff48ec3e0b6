"""RegistryStore against SQLite and a real PostgreSQL server: the same tests, the same code path."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from sqlalchemy import JSON, Column, Float, MetaData, String, Table, Text, insert
from support.postgres import PostgresProcess

from common.database import create_database_engine
from common.rest import HttpError
from registry.models import AgentRegistration, ServerRegistration, Skill
from registry.ownership import Ownership, Writer
from registry.store import ProbeTarget, RegistryStore

pytestmark = pytest.mark.anyio

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'registry.db'}"
    postgres: PostgresProcess = request.getfixturevalue("postgres")
    return postgres.fresh_database()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[RegistryStore]:
    opened = RegistryStore(database_url, clock=clock)
    await opened.start()
    yield opened
    await opened.close()


def agent(name: str = "triage", url: str = "http://127.0.0.1:8721/", **fields: object) -> AgentRegistration:
    return AgentRegistration.model_validate({"name": name, "url": url, **fields})


def server(
    name: str = "prometheus-mcp", url: str = "http://127.0.0.1:8701/mcp", **fields: object
) -> ServerRegistration:
    return ServerRegistration.model_validate({"name": name, "url": url, **fields})


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def test_register_creates_then_updates_keeping_first_registration_time(
    store: RegistryStore, clock: Clock
) -> None:
    skills = [Skill(id="triage-alert", name="Triage an alert", tags=["alerts"], examples=["why is checkout slow?"])]
    entry, created = await store.register_agent(agent(description="Finds causes", version="1.0", skills=skills))
    assert created is True
    assert entry.skills == skills
    assert entry.health.status == "unknown"
    assert entry.registered_at == entry.last_seen == at(START)

    clock.now += 42
    entry, created = await store.register_agent(agent(description="Finds causes, faster", version="1.1"))
    assert created is False
    assert (entry.description, entry.version, entry.skills) == ("Finds causes, faster", "1.1", [])
    assert entry.registered_at == at(START)
    assert entry.last_seen == at(START + 42)


async def test_names_are_unique_per_kind_not_across_kinds(store: RegistryStore) -> None:
    _, agent_created = await store.register_agent(agent(name="same"))
    _, server_created = await store.register_server(server(name="same"))
    assert (agent_created, server_created) == (True, True)
    assert (await store.get_agent("same")) is not None
    assert (await store.get_server("same")) is not None


async def test_list_is_sorted_by_name_and_filters_by_tenant(store: RegistryStore) -> None:
    for name, tenant in (("zeta", "blue"), ("alpha", None), ("mid", "blue")):
        await store.register_server(server(name=name, url=f"http://127.0.0.1:9000/{name}/mcp", tenant=tenant))
    assert [entry.name for entry in await store.list_servers()] == ["alpha", "mid", "zeta"]
    assert [entry.name for entry in await store.list_servers("blue")] == ["mid", "zeta"]
    assert await store.list_servers("green") == []


async def test_deregister_removes_the_entry_once(store: RegistryStore) -> None:
    await store.register_server(server())
    assert await store.deregister("servers", "prometheus-mcp") is True
    assert await store.get_server("prometheus-mcp") is None
    assert await store.deregister("servers", "prometheus-mcp") is False


async def test_mark_health_records_status_time_and_error(store: RegistryStore, clock: Clock) -> None:
    entry, _ = await store.register_server(server())
    target = ProbeTarget("servers", entry.name, entry.url)
    clock.now += 5
    assert await store.mark_health(target, "unhealthy", "cannot connect: connection refused")
    health = (await store.get_server(entry.name)).health  # type: ignore[union-attr]
    assert (health.status, health.last_checked, health.last_error) == (
        "unhealthy",
        at(START + 5),
        "cannot connect: connection refused",
    )
    assert await store.mark_health(target, "healthy")
    health = (await store.get_server(entry.name)).health  # type: ignore[union-attr]
    assert (health.status, health.last_error) == ("healthy", None)


async def test_a_probe_of_the_old_url_does_not_mark_a_re_registered_entry(store: RegistryStore) -> None:
    await store.register_server(server(url="http://127.0.0.1:9001/mcp"))
    await store.mark_health(ProbeTarget("servers", "prometheus-mcp", "http://127.0.0.1:9001/mcp"), "healthy")
    entry, _ = await store.register_server(server(url="http://127.0.0.1:9002/mcp"))
    assert entry.health.status == "unknown"  # a new URL has not been probed yet
    old_probe = ProbeTarget("servers", "prometheus-mcp", "http://127.0.0.1:9001/mcp")
    assert await store.mark_health(old_probe, "unhealthy", "gone") is False
    assert (await store.get_server("prometheus-mcp")).health.status == "unknown"  # type: ignore[union-attr]


async def test_expire_stale_removes_entries_neither_seen_nor_healthy_recently(
    store: RegistryStore, clock: Clock
) -> None:
    await store.register_agent(agent(name="silent"))
    await store.register_agent(agent(name="healthy", url="http://127.0.0.1:9003/"))
    await store.register_server(server(name="refreshed"))
    clock.now += 50
    await store.mark_health(ProbeTarget("agents", "healthy", "http://127.0.0.1:9003/"), "healthy")
    await store.register_server(server(name="refreshed"))  # re-registration counts as seen
    clock.now += 60  # 110 s after the first registration, 60 s after the refresh

    assert await store.expire_stale(100) == [("agents", "silent")]
    assert [entry.name for entry in await store.list_agents()] == ["healthy"]
    assert [entry.name for entry in await store.list_servers()] == ["refreshed"]
    assert await store.expire_stale(100) == []


async def test_entries_survive_reopening_the_database(database_url: str, store: RegistryStore) -> None:
    await store.register_agent(agent(skills=[Skill(id="s", name="S", tags=["t"])]))
    await store.register_server(server(tools=[{"name": "prometheus_query", "description": "PromQL"}]))
    await store.close()

    reopened = RegistryStore(database_url)
    await reopened.start()  # create_all on existing tables is a no-op
    try:
        assert [entry.skills[0].tags for entry in await reopened.list_agents()] == [["t"]]
        assert [entry.tools[0].name for entry in await reopened.list_servers()] == ["prometheus_query"]
    finally:
        await reopened.close()


async def test_concurrent_first_registrations_of_one_name_create_it_once(store: RegistryStore) -> None:
    outcomes: list[bool] = []

    async def register(port: int) -> None:
        _, created = await store.register_server(server(url=f"http://127.0.0.1:{port}/mcp"))
        outcomes.append(created)

    async with anyio.create_task_group() as group:
        for port in range(9100, 9108):
            group.start_soon(register, port)
    assert sorted(outcomes) == [False] * 7 + [True]
    assert len(await store.list_servers()) == 1


async def test_resource_urls_and_probe_targets_cover_both_kinds(store: RegistryStore) -> None:
    await store.register_agent(agent())
    await store.register_server(server())
    assert await store.resource_urls() == {"http://127.0.0.1:8721/", "http://127.0.0.1:8701/mcp"}
    assert await store.probe_targets() == [
        ProbeTarget("agents", "triage", "http://127.0.0.1:8721/"),
        ProbeTarget("servers", "prometheus-mcp", "http://127.0.0.1:8701/mcp"),
    ]


async def test_text_is_stored_exactly(store: RegistryStore) -> None:
    text = "línea\t“quoted” \\ 'single' \u2028 emoji \U0001f680 control \x01"
    await store.register_agent(agent(description=text, skills=[Skill(id="x", name=text, examples=[text])]))
    stored = await store.get_agent("triage")
    assert stored is not None
    assert (stored.description, stored.skills[0].name, stored.skills[0].examples) == (text, text, [text])


# --- ownership (SECURITY-CHECKLIST row 41) ------------------------------------------------------

OWNER, OTHER, ADMIN = Writer("triage"), Writer("impostor"), Writer("ops", admin=True)


async def test_an_entry_belongs_to_the_client_that_created_it(store: RegistryStore) -> None:
    await store.register_agent(agent(), OWNER)

    with pytest.raises(HttpError) as overwrite:
        await store.register_agent(agent(url="http://127.0.0.1:9/evil"), OTHER)
    with pytest.raises(HttpError) as delete:
        await store.deregister("agents", "triage", OTHER)

    assert (overwrite.value.status, delete.value.status) == (409, 403)
    assert "another client" in overwrite.value.description
    assert "triage'" in overwrite.value.description
    assert (await store.get_agent("triage")).url == "http://127.0.0.1:8721/"  # type: ignore[union-attr]
    entry, created = await store.register_agent(agent(version="2"), ADMIN)  # an admin may; the owner stays
    assert (created, entry.version) == (False, "2")
    await store.register_agent(agent(version="3"), OWNER)
    assert await store.deregister("agents", "triage", OWNER) is True


async def test_a_reserved_name_is_its_clients_alone_and_marked_reserved(database_url: str) -> None:
    store = RegistryStore(database_url, ownership=Ownership({"triage": "triage"}))
    await store.start()
    try:
        with pytest.raises(HttpError) as squatted:
            await store.register_agent(agent(), OTHER)
        entry, created = await store.register_agent(agent(), OWNER)
        other, _ = await store.register_agent(agent(name="helper"), OTHER)
    finally:
        await store.close()

    assert squatted.value.status == 409
    assert "reserved for another client" in squatted.value.description
    assert (created, entry.reserved, other.reserved) == (True, True, False)


async def test_entries_from_before_ownership_are_kept_and_claimed_by_the_next_allowed_registration(
    database_url: str,
) -> None:
    await _create_entries_without_owner(database_url, ["legacy", "triage"])
    store = RegistryStore(database_url, ownership=Ownership({"triage": "triage"}))
    await store.start()  # adds the owner column
    try:
        legacy, reserved = await store.get_agent("legacy"), await store.get_agent("triage")
        _, created = await store.register_agent(agent(name="legacy", url="http://127.0.0.1:9/legacy"), OTHER)
        with pytest.raises(HttpError):
            await store.register_agent(agent(name="legacy"), OWNER)  # OTHER claimed it
        with pytest.raises(HttpError):
            await store.register_agent(agent(), OTHER)  # reserved for triage, whoever registered it before
        claimed, _ = await store.register_agent(agent(), OWNER)
    finally:
        await store.close()

    assert legacy is not None
    assert reserved is not None
    assert reserved.reserved is False  # not registered by its reserved client yet
    assert created is False
    assert claimed.reserved is True


async def test_clients_racing_for_one_name_or_one_entry_without_owner_leave_exactly_one_owner(
    database_url: str,
) -> None:
    await _create_entries_without_owner(database_url, ["legacy"])
    store = RegistryStore(database_url)
    await store.start()
    outcomes: dict[str, list[str]] = {"fresh": [], "legacy": []}
    refusals: list[int] = []

    async def register(name: str, client: str) -> None:
        try:
            await store.register_agent(agent(name=name, url=f"http://127.0.0.1:9/{client}"), Writer(client))
            outcomes[name].append(client)
        except HttpError as refused:
            refusals.append(refused.status)

    try:
        async with anyio.create_task_group() as group:
            for n in range(6):
                group.start_soon(register, "fresh", f"client-{n}")
                group.start_soon(register, "legacy", f"client-{n}")
        assert refusals == [409] * 10
        for name in ("fresh", "legacy"):
            (winner,) = outcomes[name]
            assert (await store.get_agent(name)).url == f"http://127.0.0.1:9/{winner}"  # type: ignore[union-attr]
            await store.register_agent(agent(name=name), Writer(winner))  # the winner owns it
    finally:
        await store.close()


async def _create_entries_without_owner(database_url: str, names: list[str]) -> None:
    """Tables as the registry created them before entries had owners, with `names` registered."""
    old = MetaData()
    tables = [
        Table(
            kind,
            old,
            Column("name", String(64), primary_key=True),
            Column("url", String(2048), nullable=False),
            Column("tenant", String(64), nullable=True),
            Column("document", JSON, nullable=False),
            Column("health_status", String(16), nullable=False),
            Column("last_checked", Float, nullable=True),
            Column("last_error", Text, nullable=True),
            Column("last_healthy", Float, nullable=True),
            Column("registered_at", Float, nullable=False),
            Column("last_seen", Float, nullable=False),
        )
        for kind in ("agents", "servers")
    ]
    engine = create_database_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(old.create_all)
            for name in names:
                document = agent(name=name).model_dump(mode="json")
                row = {"name": name, "url": document["url"], "document": document, "health_status": "unknown"}
                await connection.execute(insert(tables[0]).values(**row, registered_at=START, last_seen=START))
    finally:
        await engine.dispose()


def test_postgres_fixture_runs_unprivileged_on_loopback(postgres: PostgresProcess) -> None:
    assert postgres.workdir is not None
    if os.geteuid() == 0:  # PostgreSQL refuses root: the cluster belongs to an unprivileged user
        assert postgres.data_dir.stat().st_uid != 0
    assert postgres.url().startswith("postgresql+asyncpg://postgres@127.0.0.1:")
