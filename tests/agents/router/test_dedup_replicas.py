"""Exactly one router task per delivery however many router replicas receive it at once (Alertmanager in HA sends
each notification from every instance), on SQLite and on PostgreSQL: the record's unique key decides, not memory.

Each `Dispatcher` here is one replica (its own engine, its own in-process fast path) on a shared database; the
copies of a delivery are sent to all of them together.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from support.postgres import PostgresProcess

from agents.router.dispatch import Dedup, Dispatcher, Trigger
from agents.router.tasks import RouterTask, TaskRecords

pytestmark = pytest.mark.anyio

COPIES_PER_REPLICA = 5
TTL = 3600.0


class NoPeers:
    """No agent is asked: every delivery stays pending, which counts as running for de-duplication."""

    registry_url = "http://registry.test"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def replica(records: TaskRecords) -> Dispatcher:
    return Dispatcher(
        NoPeers(),  # type: ignore[arg-type]
        records,
        base_url="http://router.test",
        triage_agent="triage",
        triage_url="http://triage.test",
        dedup_ttl_seconds=TTL,
        delivery_timeout_seconds=120.0,
        delivery_max_age_seconds=600.0,
        delivery_concurrency=2,
        delivery_lease_seconds=30.0,
        delivery_poll_seconds=1.0,
    )


async def receive(dispatcher: Dispatcher, key: str) -> tuple[list[RouterTask], bool]:
    dedup = Dedup(key, group="group")

    async def start() -> list[RouterTask]:
        return [await dispatcher.submit("webhook-basic", {"key": key}, Trigger("alert", "HighErrorRate"), dedup)]

    return await dispatcher.once(key, start)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'router-tasks.db'}"
    else:
        postgres: PostgresProcess = request.getfixturevalue("postgres")
        yield postgres.create_database(f"router_{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def replicas(store_url: str) -> AsyncIterator[Callable[[], list[Dispatcher]]]:
    clock = Clock()
    stores = [TaskRecords(store_url, clock=clock) for _ in range(3)]
    for store in stores:
        await store.start()
    try:
        yield lambda: [replica(store) for store in stores]
    finally:
        for store in stores:
            await store.close()


async def test_copies_of_one_delivery_sent_to_every_replica_at_once_record_one_task(
    replicas: Callable[[], list[Dispatcher]],
) -> None:
    dispatchers = replicas()
    keys = [uuid.uuid4().hex for _ in range(8)]
    copies = [key for key in keys for _ in range(len(dispatchers) * COPIES_PER_REPLICA)]
    answers = await asyncio.gather(*(receive(dispatchers[n % len(dispatchers)], key) for n, key in enumerate(copies)))

    by_key: dict[str, list[tuple[list[RouterTask], bool]]] = defaultdict(list)
    for key, answer in zip(copies, answers, strict=True):
        by_key[key].append(answer)
    assert sorted(by_key) == sorted(keys)
    for key, of_key in by_key.items():
        holder = await dispatchers[0].records.holder(key)
        assert holder is not None
        assert {tasks[0].id for tasks, _ in of_key} == {holder.id}
        assert [duplicate for _, duplicate in of_key].count(False) == 1


async def test_a_delivery_whose_task_failed_is_recorded_again_once_across_replicas(
    replicas: Callable[[], list[Dispatcher]],
) -> None:
    dispatchers = replicas()
    key = uuid.uuid4().hex
    (first,), _ = await receive(dispatchers[0], key)
    assert await dispatchers[0].records.mark_failed(first.id, "The triage agent could not start the task.")

    answers = await asyncio.gather(*(receive(d, key) for d in dispatchers for _ in range(COPIES_PER_REPLICA)))

    new = {tasks[0].id for tasks, _ in answers}
    assert len(new) == 1
    assert first.id not in new
    assert [duplicate for _, duplicate in answers].count(False) == 1
    retired = await dispatchers[0].records.by_id(first.id)
    assert retired is not None
    assert retired.dedup_key is None


async def test_a_key_older_than_the_ttl_is_released_when_the_delivery_comes_again(
    replicas: Callable[[], list[Dispatcher]],
) -> None:
    dispatchers = replicas()
    key = uuid.uuid4().hex
    (first,), _ = await receive(dispatchers[0], key)
    clock = dispatchers[0].records.clock
    assert isinstance(clock, Clock)
    clock.now += TTL + 1

    (second,), duplicate = await receive(dispatchers[1], key)

    assert not duplicate
    assert second.id != first.id
    released = await dispatchers[0].records.by_id(first.id)
    assert released is not None
    assert released.dedup_key is None
