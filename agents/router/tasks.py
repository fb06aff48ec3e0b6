"""The router's record of the tasks it started: which agent runs each, for whom, and why.

The task itself lives at the agent (its state, messages and result are read from there, live);
the router keeps one row per task it started: its own task id (what callers see), the owner (the
OAuth client that asked, or `webhook-basic`), the agent's name and URL, the A2A task and context
ids, the trigger, when, and the de-duplication keys of a webhook delivery. SQLite by default,
PostgreSQL by URL, in the same database as the router's A2A tasks (table `router_tasks`).

Delivery: a webhook or `/diagnostics/*` start is recorded before its agent is asked
(`delivery` `pending`, the input kept as JSON text in `payload`, the A2A ids and agent URL empty);
`agents.router.delivery` sends it and marks it `started` (the ids filled, the payload dropped) or
`failed` (with the reason in `failure`). A row with no `delivery` (from before deliveries were
queued) was started when it was recorded. Those three columns were added later: `start()` adds
them to a database created before (`create_all` creates missing tables, never missing columns).

De-duplication: a delivery's `dedup_key` names the incident (`delivery_key`, or a deployment's
service, namespace, id and status) for one owner; `by_dedup_key` finds the tasks started for it
since a moment, and `retire` forgets the keys of tasks that ended without a result once their
delivery has started again. `dedup_group` names an Alertmanager group: when the group resolves, its keys are
released (`release_group`), so the same alerts firing again later are a new incident.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Float,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    and_,
    insert,
    inspect,
    select,
    text,
    update,
)

from common.database import create_database_engine, display_url

__all__ = ["FAILED", "PENDING", "STARTED", "RouterTask", "TaskRecords"]

logger = logging.getLogger(__name__)

metadata = MetaData()

#: Delivery states: recorded and not yet taken by its agent; taken (the task runs there); given up.
PENDING, STARTED, FAILED = "pending", "started", "failed"

TABLE = Table(
    "router_tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(255), nullable=False, index=True),
    Column("agent", String(64), nullable=False),
    Column("agent_url", String(2048), nullable=False),
    Column("a2a_task_id", String(64), nullable=False),
    Column("a2a_context_id", String(64), nullable=False),
    Column("trigger_kind", String(16), nullable=False),
    Column("trigger_summary", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("dedup_key", String(64), nullable=True, index=True),
    Column("dedup_group", String(64), nullable=True, index=True),
    # Added after the table first shipped (see `_add_delivery_columns`): nullable, no index.
    Column("delivery", String(16), nullable=True),
    Column("payload", Text, nullable=True),
    Column("failure", Text, nullable=True),
)
#: The columns `_add_delivery_columns` adds to an older table, with their SQL types.
_ADDED_COLUMNS = {"delivery": "VARCHAR(16)", "payload": "TEXT", "failure": "TEXT"}


@dataclass(frozen=True)
class RouterTask:
    id: str
    owner: str
    agent: str
    agent_url: str
    a2a_task_id: str
    a2a_context_id: str
    trigger_kind: str
    trigger_summary: str
    created_at: float
    dedup_key: str | None = None
    dedup_group: str | None = None
    delivery: str | None = None
    payload: str | None = None
    failure: str | None = None

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(self.created_at, UTC)

    @property
    def pending(self) -> bool:
        return self.delivery == PENDING

    @property
    def failed(self) -> bool:
        return self.delivery == FAILED


class TaskRecords:
    """The `router_tasks` table; create with a SQLAlchemy async URL, then `start()`."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._display_url = display_url(url)
        self._engine = create_database_engine(url)

    async def start(self) -> None:
        async with self._engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.run_sync(_add_delivery_columns)
        logger.info("The router records the tasks it starts in %s", self._display_url)

    async def close(self) -> None:
        await self._engine.dispose()

    async def add(self, task: RouterTask) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(insert(TABLE).values(**task.__dict__))

    async def get(self, task_id: str, owner: str) -> RouterTask | None:
        """The task `task_id` if `owner` started it; None otherwise (another owner's task is not revealed)."""
        rows = await self._select(TABLE.c.id == task_id, TABLE.c.owner == owner)
        return rows[0] if rows else None

    async def by_id(self, task_id: str) -> RouterTask | None:
        rows = await self._select(TABLE.c.id == task_id)
        return rows[0] if rows else None

    async def pending(self) -> list[RouterTask]:
        """The deliveries not yet taken by their agent, oldest first (resumed at start-up)."""
        return await self._select(TABLE.c.delivery == PENDING)

    async def mark_started(self, task_id: str, agent_url: str, a2a_task_id: str, a2a_context_id: str) -> None:
        """The pending delivery `task_id` was taken: its agent runs it as `a2a_task_id`."""
        values = {"agent_url": agent_url, "a2a_task_id": a2a_task_id, "a2a_context_id": a2a_context_id}
        await self._settle(task_id, delivery=STARTED, payload=None, **values)

    async def mark_failed(self, task_id: str, reason: str) -> None:
        """The pending delivery `task_id` was given up for `reason` (its payload is kept for the record)."""
        await self._settle(task_id, delivery=FAILED, failure=reason)

    async def _settle(self, task_id: str, **values: str | None) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(TABLE).where(TABLE.c.id == task_id, TABLE.c.delivery == PENDING).values(**values)
            )

    async def by_dedup_key(self, key: str, since: float) -> list[RouterTask]:
        return await self._select(TABLE.c.dedup_key == key, TABLE.c.created_at >= since)

    async def retire(self, tasks: list[RouterTask]) -> None:
        """Forget the de-duplication keys of `tasks` (they ended without a result; their delivery started again)."""
        async with self._engine.begin() as connection:
            await connection.execute(
                update(TABLE).where(TABLE.c.id.in_([task.id for task in tasks])).values(dedup_key=None)
            )

    async def release_group(self, group: str) -> int:
        """Forget the de-duplication keys of `group`'s tasks (it resolved); how many there were."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(TABLE)
                .where(and_(TABLE.c.dedup_group == group, TABLE.c.dedup_key.is_not(None)))
                .values(dedup_key=None)
            )
        return int(result.rowcount)

    async def _select(self, *conditions: ColumnElement[bool]) -> list[RouterTask]:
        async with self._engine.connect() as connection:
            result = await connection.execute(select(TABLE).where(*conditions).order_by(TABLE.c.created_at))
            return [_task(row) for row in result.mappings()]


def _add_delivery_columns(connection: Connection) -> None:
    existing = {column["name"] for column in inspect(connection).get_columns(TABLE.name)}
    for name, sql_type in _ADDED_COLUMNS.items():
        if name not in existing:
            # The names and types are this module's constants, not input.
            connection.execute(text(f"ALTER TABLE {TABLE.name} ADD COLUMN {name} {sql_type}"))
            logger.info("Added the %s column to the router's %s table", name, TABLE.name)


def _task(row: RowMapping) -> RouterTask:
    return RouterTask(**{column.name: row[column.name] for column in TABLE.columns})
