"""The router's queued deliveries, without servers: what `Deliverer` records for each way triage answers, claims and
leases between replicas of one database, and a `router_tasks` table from before, upgraded in place (SQLite and
PostgreSQL).

The federation tests (test_webhooks.py, test_peer_failures.py, tests/integration/test_replicas.py) cover the same
paths end to end; these pin the outcomes that take minutes, a hung agent or a replica dying at one exact moment to
reach there (a delivery given up after its maximum age, a send whose replica died before it recorded the task).
"""

from __future__ import annotations

import asyncio
import json
import time
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
from agents.router.dispatch import Dispatcher, Trigger
from agents.router.grouping import DeliveryGroup
from agents.router.tasks import FAILED, GROUPED, PENDING, STARTED, RouterTask, TaskRecords
from common.database import create_database_engine
from common.errors import BackendError, BackendTimeout, BackendUnavailable

pytestmark = pytest.mark.anyio

MAX_AGE = 600.0
LEASE = 30.0


class Clock:
    """A clock the test moves (`now`), or that follows real time from there once `running`."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self._since: float | None = None

    def run(self) -> None:
        self._since = time.monotonic()

    def __call__(self) -> float:
        return self.now + (time.monotonic() - self._since if self._since is not None else 0.0)


class FakeTriage:
    """`Peers` for the deliverer: each start answers the next of `outcomes` (an error is raised), and creates a task
    in the context it was sent with, which `tasks_in_context` lists."""

    registry_url = "http://registry.test"

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[tuple[str, dict[str, Any], float | None, str | None]] = []
        self.created: dict[str, list[Task]] = {}

    async def start(
        self, name: str, url: str, payload: dict[str, Any], *, seconds: float | None = None, context_id: str | None
    ) -> Task:
        self.sent.append((url, payload, seconds, context_id))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        task = Task(id=f"a2a-{len(self.sent)}", context_id=context_id or "generated")
        if outcome is None or isinstance(outcome, BackendTimeout):  # a timeout may still have created the task
            self.created.setdefault(task.context_id, []).append(task)
        if outcome is not None:
            raise outcome
        return task

    async def tasks_in_context(self, name: str, url: str, context_id: str) -> list[Task]:
        return list(self.created.get(context_id, []))


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


def deliverer(
    records: TaskRecords, triage: FakeTriage, replica: str = "replica-a", planner: PairPlanner | None = None
) -> Deliverer:
    return Deliverer(
        triage,  # type: ignore[arg-type]
        records,
        resolve,
        timeout=120.0,
        max_age=MAX_AGE,
        concurrency=2,
        lease_seconds=LEASE,
        poll_seconds=0.05,
        replica=replica,
        planner=planner,
    )


async def deliver_claimed(sender: Deliverer) -> int:
    """Claim what `sender` may and deliver it; how many rows it claimed."""
    claimed = await sender.records.claim(sender.replica, limit=10, lease_seconds=LEASE)
    for record in claimed:
        await sender.deliver(record)
    return len(claimed)


async def test_a_delivery_taken_by_triage_is_started_with_its_ids_in_its_own_context_with_the_long_deadline(
    records: TaskRecords, clock: Clock
) -> None:
    row = pending(clock, groupKey="g1")
    await records.add(row)
    triage = FakeTriage()

    assert await deliver_claimed(deliverer(records, triage)) == 1

    started = await records.by_id(row.id)
    assert started is not None
    assert (started.delivery, started.a2a_task_id, started.agent_url) == (STARTED, "a2a-1", "http://triage.test")
    assert started.a2a_context_id == row.id
    assert started.payload is None
    assert triage.sent == [("http://triage.test", {"groupKey": "g1"}, 120.0, row.id)]


async def test_an_unreachable_triage_is_tried_again_with_back_off_until_it_takes_the_delivery(
    records: TaskRecords, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RETRY_FIRST_SECONDS", 0.01)
    clock.run()
    row = pending(clock)
    await records.add(row)
    down = BackendUnavailable("the triage agent at http://triage.test could not be reached", backend="triage")
    triage = FakeTriage(down, down, down)

    running = asyncio.create_task(deliverer(records, triage).run())  # finds the row recorded before it started
    try:
        await eventually_async(
            lambda: _delivery_is(records, row.id, STARTED), interval=0.01, what="the delivery started"
        )
    finally:
        running.cancel()

    assert len(triage.sent) == 4
    started = await records.by_id(row.id)
    assert started is not None
    assert started.attempts == 4


async def test_a_busy_triage_s_retry_after_is_waited_before_the_next_try(records: TaskRecords, clock: Clock) -> None:
    row = pending(clock)
    await records.add(row)
    busy = BackendUnavailable(
        "the triage agent at http://triage.test answered HTTP 429", backend="t", status_code=429, retry_after_seconds=7
    )
    sender = deliverer(records, FakeTriage(busy))

    await deliver_claimed(sender)

    waiting = await records.by_id(row.id)
    assert waiting is not None
    assert (waiting.delivery, waiting.due_at, waiting.lease_until) == (PENDING, clock.now + 7.0, None)
    clock.now += 6.9
    assert await deliver_claimed(sender) == 0
    clock.now += 0.1
    assert await deliver_claimed(sender) == 1
    assert await _delivery_is(records, row.id, STARTED)


async def test_a_busy_triage_never_ages_a_delivery_out(records: TaskRecords, clock: Clock) -> None:
    # A storm that outlasts the maximum age must not drop the pages triage has not reached yet: it is working.
    row = pending(clock)
    await records.add(row)
    busy = BackendUnavailable("triage is busy (HTTP 429)", backend="t", status_code=429, retry_after_seconds=1)
    sender = deliverer(records, FakeTriage(busy, busy))

    clock.now += MAX_AGE + 1
    await deliver_claimed(sender)
    waiting = await records.by_id(row.id)
    assert waiting is not None
    assert (waiting.delivery, waiting.due_at) == (PENDING, clock.now + 1.0)
    clock.now += 1.0
    await deliver_claimed(sender)
    clock.now += 1.0
    assert await deliver_claimed(sender) == 1
    assert await _delivery_is(records, row.id, STARTED)


async def test_a_delivery_whose_recording_failed_is_tried_again_and_adopts_the_task_it_created(
    records: TaskRecords, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RETRY_FIRST_SECONDS", 0.01)
    clock.run()
    row = pending(clock)
    await records.add(row)
    triage = FakeTriage()
    sender = deliverer(records, triage)
    mark_started = records.mark_started

    async def store_down_once(*args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(records, "mark_started", mark_started)
        raise RuntimeError("database is locked")

    monkeypatch.setattr(records, "mark_started", store_down_once)
    running = asyncio.create_task(sender.run())
    try:
        await eventually_async(
            lambda: _delivery_is(records, row.id, STARTED), interval=0.01, what="the delivery started"
        )
    finally:
        running.cancel()

    started = await records.by_id(row.id)
    assert started is not None
    assert started.a2a_task_id == "a2a-1"
    assert len(triage.sent) == 1  # the second try found the task the first created


async def test_a_replica_that_died_mid_delivery_leaves_the_row_to_another_which_adopts_its_task(
    records: TaskRecords, clock: Clock
) -> None:
    row = pending(clock)
    await records.add(row)
    triage = FakeTriage()
    dead, alive = deliverer(records, triage, "replica-a"), deliverer(records, triage, "replica-b")
    (claimed,) = await records.claim(dead.replica, limit=10, lease_seconds=LEASE)
    await triage.start("triage", "http://triage.test", {}, context_id=claimed.id)  # sent, then the replica died

    assert await deliver_claimed(alive) == 0  # the lease holds
    clock.now += LEASE + 1
    assert await deliver_claimed(alive) == 1

    started = await records.by_id(row.id)
    assert started is not None
    assert (started.delivery, started.a2a_task_id, started.claimed_by, started.attempts) == (
        STARTED,
        "a2a-1",
        "replica-b",
        2,
    )
    assert len(triage.sent) == 1
    # The first holder, back from the dead, cannot settle what it no longer holds.
    assert not await records.mark_failed(row.id, "late", replica=dead.replica)
    assert not await records.mark_started(row.id, "http://x", "a2a-9", "c", replica=dead.replica)


async def test_a_lease_renewed_while_sending_keeps_other_replicas_off_the_row(
    records: TaskRecords, clock: Clock
) -> None:
    row = pending(clock)
    await records.add(row)
    await records.claim("replica-a", limit=10, lease_seconds=LEASE)
    clock.now += LEASE - 1
    assert await records.renew([row.id], "replica-a", LEASE) == {row.id}
    clock.now += 2  # past the first lease, within the renewed one
    assert await records.claim("replica-b", limit=10, lease_seconds=LEASE) == []
    assert await records.renew([row.id], "replica-b", LEASE) == set()


async def test_a_delivery_unreachable_past_its_maximum_age_fails_with_the_reason_naming_triage(
    records: TaskRecords, clock: Clock
) -> None:
    row = pending(clock)
    await records.add(row)
    down = BackendUnavailable("the triage agent at http://triage.test answered HTTP 503", backend="triage")
    sender = deliverer(records, FakeTriage(down, down))

    await deliver_claimed(sender)
    assert await _delivery_is(records, row.id, PENDING)
    clock.now += MAX_AGE
    await deliver_claimed(sender)

    failed = await records.by_id(row.id)
    assert failed is not None
    assert failed.delivery == FAILED
    assert failed.failure is not None
    assert "The triage agent could not be reached for 600 s" in failed.failure
    assert "answered HTTP 503" in failed.failure
    assert "Send the alert or event again" in failed.failure


async def test_an_error_fails_the_delivery_at_once_and_is_not_sent_again(records: TaskRecords, clock: Clock) -> None:
    row = pending(clock)
    await records.add(row)
    error = BackendError("the triage agent at http://triage.test answered an error (InternalError: boom)", backend="t")
    triage = FakeTriage(error)
    sender = deliverer(records, triage)

    await deliver_claimed(sender)
    clock.now += 60
    assert await deliver_claimed(sender) == 0  # no longer pending

    failed = await records.by_id(row.id)
    assert failed is not None
    assert failed.delivery == FAILED
    assert failed.failure == (
        f"The triage agent could not start the task: {error}. Send the alert or event again to start a new "
        "investigation."
    )
    assert len(triage.sent) == 1


async def test_a_timeout_is_tried_again_and_adopts_the_task_triage_created_meanwhile(
    records: TaskRecords, clock: Clock
) -> None:
    row = pending(clock)
    await records.add(row)
    timeout = BackendTimeout("the triage agent at http://triage.test did not start the task within 120 s", backend="t")
    triage = FakeTriage(timeout)
    sender = deliverer(records, triage)

    await deliver_claimed(sender)
    assert await _delivery_is(records, row.id, PENDING)
    clock.now += delivery.RETRY_FIRST_SECONDS
    await deliver_claimed(sender)

    started = await records.by_id(row.id)
    assert started is not None
    assert (started.delivery, started.a2a_task_id) == (STARTED, "a2a-1")
    assert len(triage.sent) == 1


async def _delivery_is(records: TaskRecords, task_id: str, state: str) -> bool:
    row = await records.by_id(task_id)
    return row is not None and row.delivery == state


OLD_SCHEMA = """CREATE TABLE router_tasks (
    id VARCHAR(64) PRIMARY KEY, owner VARCHAR(255) NOT NULL, agent VARCHAR(64) NOT NULL,
    agent_url VARCHAR(2048) NOT NULL, a2a_task_id VARCHAR(64) NOT NULL, a2a_context_id VARCHAR(64) NOT NULL,
    trigger_kind VARCHAR(16) NOT NULL, trigger_summary TEXT NOT NULL, created_at FLOAT NOT NULL,
    dedup_key VARCHAR(64), dedup_group VARCHAR(64))"""
OLD_INDEX = "CREATE INDEX ix_router_tasks_dedup_key ON router_tasks (dedup_key)"
OLD_ROWS = """INSERT INTO router_tasks VALUES
    ('old-1', 'caller', 'triage', 'http://triage.test', 'a2a-old', 'context-old', 'alert', 'HighErrorRate firing',
     1800000000.0, 'key-1', 'group-1'),
    ('old-0', 'caller', 'triage', 'http://triage.test', 'a2a-older', 'context-older', 'alert', 'HighErrorRate firing',
     1799999000.0, 'key-1', 'group-1')"""


async def _upgraded_store_keeps_old_rows_and_queues_new_ones(url: str, clock: Clock) -> None:
    engine = create_database_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(OLD_SCHEMA))
        await connection.execute(text(OLD_INDEX))
        await connection.execute(text(OLD_ROWS))
    await engine.dispose()

    store = TaskRecords(url, clock=clock)
    await store.start()
    await store.start()  # a second start finds the columns and the index there
    try:
        old = await store.get("old-1", "caller")
        assert old is not None
        assert (old.a2a_task_id, old.delivery, old.pending, old.failed, old.taken) == (
            "a2a-old",
            None,
            False,
            False,
            True,
        )
        older = await store.by_id("old-0")
        assert older is not None
        assert older.dedup_key is None
        assert await store.holder("key-1") == old
        row = pending(clock, groupKey="g2")
        await store.add(row)
        assert [task.id for task in await store.claim("replica", limit=10, lease_seconds=LEASE)] == [row.id]
        assert await store.mark_failed(row.id, "The triage agent could not start the task.", replica="replica")
        clock.now += LEASE + 1
        assert await store.claim("replica", limit=10, lease_seconds=LEASE) == []
    finally:
        await store.close()


async def test_a_sqlite_table_from_before_queued_deliveries_gets_the_new_columns(tmp_path: Path, clock: Clock) -> None:
    await _upgraded_store_keeps_old_rows_and_queues_new_ones(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", clock)


async def test_a_postgresql_table_from_before_queued_deliveries_gets_the_new_columns(
    postgres: PostgresProcess, clock: Clock
) -> None:
    url = postgres.create_database(f"router_{uuid.uuid4().hex[:8]}")
    await _upgraded_store_keeps_old_rows_and_queues_new_ones(url, clock)


async def test_replicas_claiming_together_on_postgresql_each_claim_distinct_rows(
    postgres: PostgresProcess, clock: Clock
) -> None:
    url = postgres.create_database(f"router_{uuid.uuid4().hex[:8]}")
    replicas = [TaskRecords(url, clock=clock) for _ in range(4)]
    for store in replicas:
        await store.start()
    try:
        rows = [pending(clock, n=n) for n in range(40)]
        for row in rows:
            await replicas[0].add(row)
        claims = await asyncio.gather(
            *(store.claim(f"replica-{n}", limit=7, lease_seconds=LEASE) for n in range(3) for store in replicas)
        )
        claimed = [task.id for claim in claims for task in claim]
        assert sorted(claimed) == sorted(row.id for row in rows)  # each once, none left
    finally:
        for store in replicas:
            await store.close()


class PairPlanner:
    """Groups the batch's first alert delivery with the rest (what `Grouper.plan` would do for one outage)."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def plan(self, deliveries: list[RouterTask], ongoing: Any = None) -> list[Any]:
        self.batches.append([task.id for task in deliveries])
        lead, *members = deliveries
        merged = json.dumps({"merged": [json.loads(task.payload or "{}") for task in deliveries]})
        return [DeliveryGroup(lead, tuple(members), "they depend on it", merged)]


async def test_alert_deliveries_due_together_are_planned_once_and_the_members_follow_their_lead(
    records: TaskRecords, clock: Clock
) -> None:
    rows = [pending(clock, n=n) for n in range(3)]
    for row in rows:
        await records.add(row)
    triage, planner = FakeTriage(), PairPlanner()
    sender = deliverer(records, triage, planner=planner)

    (lead,) = await sender._claim()
    member = await records.by_id(rows[1].id)
    assert member is not None
    assert (member.delivery, member.grouped_into, member.taken) == (GROUPED, rows[0].id, False)
    await sender.deliver(lead)

    assert planner.batches == [[row.id for row in rows]]
    assert triage.sent == [("http://triage.test", {"merged": [{"n": 0}, {"n": 1}, {"n": 2}]}, 120.0, rows[0].id)]
    for row in rows[1:]:
        grouped = await records.by_id(row.id)
        assert grouped is not None
        assert (grouped.delivery, grouped.grouped_into, grouped.a2a_task_id) == (GROUPED, rows[0].id, "a2a-1")


async def test_members_of_a_lead_that_failed_fail_with_its_reason(records: TaskRecords, clock: Clock) -> None:
    lead, member = pending(clock), pending(clock)
    for row in (lead, member):
        await records.add(row)
    await records.claim("replica-a", limit=10, lease_seconds=LEASE)
    assert await records.mark_grouped([member.id], lead.id, "replica-a") == 1

    assert await records.mark_failed(lead.id, "The triage agent could not start the task.", replica="replica-a")

    failed = await records.by_id(member.id)
    assert failed is not None
    assert failed.delivery == FAILED
    assert failed.failure == (
        f"It was grouped into router task {lead.id}, which failed: The triage agent could not start the task."
    )


async def test_an_alert_is_held_for_its_group_wait_then_sent_when_it_falls_due_not_at_the_next_poll(
    records: TaskRecords, clock: Clock
) -> None:
    clock.run()
    triage = FakeTriage()
    dispatcher = Dispatcher(
        triage,  # type: ignore[arg-type]
        records,
        base_url="http://router.test",
        triage_agent="triage",
        triage_url="http://triage.test",
        dedup_ttl_seconds=3600.0,
        delivery_timeout_seconds=120.0,
        delivery_max_age_seconds=MAX_AGE,
        delivery_concurrency=2,
        delivery_lease_seconds=LEASE,
        delivery_poll_seconds=600.0,
        planner=PairPlanner(),
        group_wait_seconds=0.5,
    )
    running = asyncio.create_task(dispatcher.deliveries.run())
    try:
        await asyncio.sleep(0.1)  # the deliverer has looked once and waits for its next poll
        row = await dispatcher.submit("webhook-basic", {"n": 1}, Trigger("alert", "HighErrorRate firing"))
        assert row.due_at == row.created_at + 0.5
        await asyncio.sleep(0.2)
        assert triage.sent == []
        await eventually_async(
            lambda: _delivery_is(records, row.id, STARTED), timeout=10, interval=0.05, what="the delivery started"
        )
    finally:
        running.cancel()
