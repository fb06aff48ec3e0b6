"""The router's queued deliveries, without servers: what `Deliverer` records for each way triage answers, and a
`router_tasks` table from before deliveries were queued, upgraded in place (SQLite and PostgreSQL).

The federation tests (test_webhooks.py, test_peer_failures.py) cover the same paths end to end; these pin the
outcomes that take minutes or a hung agent to reach there (a delivery given up after its maximum age, a timeout
that is not re-sent).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from a2a.types import Task
from sqlalchemy import text
from support.eventually import eventually_async
from support.postgres import PostgresProcess

from agents.router import delivery
from agents.router.delivery import Deliverer
from agents.router.tasks import FAILED, PENDING, STARTED, RouterTask, TaskRecords
from common.database import create_database_engine
from common.errors import BackendError, BackendTimeout, BackendUnavailable

pytestmark = pytest.mark.anyio

MAX_AGE = 600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeTriage:
    """`Peers.start` for the deliverer: each call answers the next of `outcomes` (an error is raised)."""

    registry_url = "http://registry.test"

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[tuple[str, dict[str, Any], float | None]] = []

    async def start(self, name: str, url: str, payload: dict[str, Any], *, seconds: float | None = None) -> Task:
        self.sent.append((url, payload, seconds))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return Task(id=f"a2a-{len(self.sent)}", context_id="context-1")


async def resolve(agent: str) -> str:
    return f"http://{agent}.test"


def pending(clock: Clock, **payload: Any) -> RouterTask:
    return RouterTask(
        id=uuid.uuid4().hex,
        owner="caller",
        agent="triage",
        agent_url="",
        a2a_task_id="",
        a2a_context_id="",
        trigger_kind="alert",
        trigger_summary="HighErrorRate firing",
        created_at=clock(),
        delivery=PENDING,
        payload=json.dumps(payload),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def records(tmp_path: Path, clock: Clock) -> AsyncIterator[TaskRecords]:
    store = TaskRecords(f"sqlite+aiosqlite:///{tmp_path / 'router-tasks.db'}", clock=clock)
    await store.start()
    yield store
    await store.close()


def deliverer(records: TaskRecords, triage: FakeTriage) -> Deliverer:
    return Deliverer(triage, records, resolve, timeout=120.0, max_age=MAX_AGE, concurrency=2)  # type: ignore[arg-type]


async def test_a_delivery_taken_by_triage_is_started_with_its_ids_and_sent_with_the_long_deadline(
    records: TaskRecords, clock: Clock
) -> None:
    row = pending(clock, groupKey="g1")
    await records.add(row)
    triage = FakeTriage()

    await deliverer(records, triage).deliver(row.id)

    started = await records.by_id(row.id)
    assert started is not None
    assert (started.delivery, started.a2a_task_id, started.agent_url) == (STARTED, "a2a-1", "http://triage.test")
    assert started.payload is None
    assert triage.sent == [("http://triage.test", {"groupKey": "g1"}, 120.0)]


async def test_an_unreachable_triage_is_tried_again_with_back_off_until_it_takes_the_delivery(
    records: TaskRecords, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RETRY_FIRST_SECONDS", 0.01)
    row = pending(clock)
    await records.add(row)
    down = BackendUnavailable("the triage agent at http://triage.test could not be reached", backend="triage")
    triage = FakeTriage(down, down, down)

    running = asyncio.create_task(deliverer(records, triage).run())  # resumes the pending row at start
    try:
        await eventually_async(
            lambda: _delivery_is(records, row.id, STARTED), interval=0.01, what="the delivery started"
        )
    finally:
        running.cancel()

    assert len(triage.sent) == 4


async def test_a_delivery_whose_recording_failed_is_tried_again_rather_than_left_pending(
    records: TaskRecords, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RETRY_FIRST_SECONDS", 0.01)
    row = pending(clock)
    await records.add(row)
    triage = FakeTriage(RuntimeError("database is locked"))

    running = asyncio.create_task(deliverer(records, triage).run())
    try:
        await eventually_async(
            lambda: _delivery_is(records, row.id, STARTED), interval=0.01, what="the delivery started"
        )
    finally:
        running.cancel()

    assert len(triage.sent) == 2


async def test_a_delivery_unreachable_past_its_maximum_age_fails_with_the_reason_naming_triage(
    records: TaskRecords, clock: Clock
) -> None:
    row = pending(clock)
    await records.add(row)
    down = BackendUnavailable("the triage agent at http://triage.test answered HTTP 503", backend="triage")
    sender = deliverer(records, FakeTriage(down, down))

    await sender.deliver(row.id)
    assert await _delivery_is(records, row.id, PENDING)
    clock.now += MAX_AGE
    await sender.deliver(row.id)

    failed = await records.by_id(row.id)
    assert failed is not None
    assert failed.delivery == FAILED
    assert failed.failure is not None
    assert "The triage agent could not be reached for 600 s" in failed.failure
    assert "answered HTTP 503" in failed.failure
    assert "Send the alert or event again" in failed.failure


@pytest.mark.parametrize(
    "error",
    [
        BackendTimeout("the triage agent at http://triage.test did not start the task within 120 s", backend="t"),
        BackendError("the triage agent at http://triage.test answered an error (InternalError: boom)", backend="t"),
    ],
)
async def test_a_timeout_or_an_error_fails_the_delivery_at_once_and_is_not_sent_again(
    records: TaskRecords, clock: Clock, error: BackendError
) -> None:
    row = pending(clock)
    await records.add(row)
    triage = FakeTriage(error)
    sender = deliverer(records, triage)

    await sender.deliver(row.id)
    await sender.deliver(row.id)  # a second look changes nothing: it is no longer pending

    failed = await records.by_id(row.id)
    assert failed is not None
    assert failed.delivery == FAILED
    assert failed.failure == (
        f"The triage agent could not start the task: {error}. Send the alert or event again to start a new "
        "investigation."
    )
    assert len(triage.sent) == 1


async def _delivery_is(records: TaskRecords, task_id: str, state: str) -> bool:
    row = await records.by_id(task_id)
    return row is not None and row.delivery == state


OLD_SCHEMA = """CREATE TABLE router_tasks (
    id VARCHAR(64) PRIMARY KEY, owner VARCHAR(255) NOT NULL, agent VARCHAR(64) NOT NULL,
    agent_url VARCHAR(2048) NOT NULL, a2a_task_id VARCHAR(64) NOT NULL, a2a_context_id VARCHAR(64) NOT NULL,
    trigger_kind VARCHAR(16) NOT NULL, trigger_summary TEXT NOT NULL, created_at FLOAT NOT NULL,
    dedup_key VARCHAR(64), dedup_group VARCHAR(64))"""
OLD_ROW = """INSERT INTO router_tasks VALUES ('old-1', 'caller', 'triage', 'http://triage.test', 'a2a-old',
    'context-old', 'alert', 'HighErrorRate firing', 1800000000.0, 'key-1', 'group-1')"""


async def _upgraded_store_keeps_old_rows_and_queues_new_ones(url: str, clock: Clock) -> None:
    engine = create_database_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(OLD_SCHEMA))
        await connection.execute(text(OLD_ROW))
    await engine.dispose()

    store = TaskRecords(url, clock=clock)
    await store.start()
    await store.start()  # a second start finds the columns there
    try:
        old = await store.get("old-1", "caller")
        assert old is not None
        assert (old.a2a_task_id, old.delivery, old.pending, old.failed) == ("a2a-old", None, False, False)
        assert await store.by_dedup_key("key-1", 0) == [old]
        row = pending(clock, groupKey="g2")
        await store.add(row)
        assert await store.pending() == [row]
        await store.mark_failed(row.id, "The triage agent could not start the task.")
        assert await store.pending() == []
    finally:
        await store.close()


async def test_a_sqlite_table_from_before_queued_deliveries_gets_the_new_columns(tmp_path: Path, clock: Clock) -> None:
    await _upgraded_store_keeps_old_rows_and_queues_new_ones(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", clock)


async def test_a_postgresql_table_from_before_queued_deliveries_gets_the_new_columns(
    postgres: PostgresProcess, clock: Clock
) -> None:
    url = postgres.create_database(f"router_{uuid.uuid4().hex[:8]}")
    await _upgraded_store_keeps_old_rows_and_queues_new_ones(url, clock)
