"""The router's record of the tasks it started: which agent runs each, for whom, and why.

The task itself lives at the agent (its state, messages and result are read from there, live);
the router keeps one row per task it started: its own task id (what callers see), the owner (the
OAuth client that asked, or `webhook-basic`), the agent's name and URL, the A2A task and context
ids, the trigger, when, and the de-duplication keys of a webhook delivery. SQLite by default,
PostgreSQL by URL, in the same database as the router's A2A tasks (table `router_tasks`).

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
    Float,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    and_,
    insert,
    select,
    update,
)

from common.database import create_database_engine, display_url

__all__ = ["RouterTask", "TaskRecords"]

logger = logging.getLogger(__name__)

metadata = MetaData()

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
)


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

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(self.created_at, UTC)


class TaskRecords:
    """The `router_tasks` table; create with a SQLAlchemy async URL, then `start()`."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._display_url = display_url(url)
        self._engine = create_database_engine(url)

    async def start(self) -> None:
        async with self._engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
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


def _task(row: RowMapping) -> RouterTask:
    return RouterTask(**{column.name: row[column.name] for column in TABLE.columns})
