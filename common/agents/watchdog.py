"""No task reads as running without a replica running it: `TaskWatchdog` fails the abandoned ones.

A task is submitted or working in the store while some replica's executor runs it, under that
replica's lease (`common.agents.leases`). An unfinished task is **abandoned**, and marked failed
with a message saying to send the request again, when:

- its lease expired (its replica stopped renewing: killed, frozen, cut off from the database), or
  its holder is a process of this host that no longer exists (a crash, then a restart):
  `INTERRUPTED_MESSAGE`;
- it has no lease and was last updated more than `grace_seconds` ago (a task stored by an older
  version, or one whose replica released it and then could not store its end): `UNATTENDED_MESSAGE`.
  The grace spares a task between its creation and its executor taking it.

Tasks this replica holds are never its own watchdog's business. The watchdog sweeps at start-up
(`common.agents.app`) and every `interval_seconds` while serving; any replica may fail another's
abandoned task, and two replicas sweeping at once fail it once.

A task is failed with one conditional UPDATE of its status: only if it is still unfinished and no
live lease (other than the dead holder's) appeared meanwhile, so a replica that takes the task
again, or stores its end at that moment, wins; the abandoned lease is deleted with it. Leases left
without a task (a replica killed between taking a lease and storing its task) are deleted once
expired for `lease_seconds`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
from a2a.server.tasks import DatabaseTaskStore
from a2a.types import Message, Part, Role, TaskState, TaskStatus
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from sqlalchemy import delete, exists, or_, select, update

from common.agents.leases import LEASES, TaskLeases, holder_gone

__all__ = ["INTERRUPTED_MESSAGE", "UNATTENDED_MESSAGE", "Abandoned", "TaskWatchdog", "fail_tasks"]

logger = logging.getLogger(__name__)

#: The status message of a task whose replica stopped while it was running (its lease expired, or the
#: process is gone).
INTERRUPTED_MESSAGE = "The agent replica running this task stopped before it finished; send the request again."
#: The status message of a task left unfinished without a lease.
UNATTENDED_MESSAGE = (
    "The agent lost track of this task before it finished (its worker stopped); send the request again."
)
_UNFINISHED_STATES = (
    TaskState.Name(TaskState.TASK_STATE_SUBMITTED),
    TaskState.Name(TaskState.TASK_STATE_WORKING),
    "submitted",  # tasks stored in the A2A 0.3 format
    "working",
)


@dataclass(frozen=True)
class Abandoned:
    """An abandoned task, the holder of its dead lease ("" when it had none) and the message to fail it with."""

    task_id: str
    holder: str
    message: str


class TaskWatchdog:
    """Fails the abandoned tasks (see the module doc) that this replica does not hold."""

    def __init__(
        self,
        task_store: DatabaseTaskStore,
        leases: TaskLeases,
        *,
        interval_seconds: float,
        grace_seconds: float,
    ) -> None:
        self.task_store = task_store
        self.leases = leases
        self.interval_seconds = interval_seconds
        self.grace_seconds = grace_seconds

    async def run(self) -> None:
        while True:
            await anyio.sleep(self.interval_seconds)
            try:
                await self.sweep()
            except Exception:  # the store may be briefly unusable; the next sweep tries again
                logger.exception("The task watchdog's sweep failed")

    async def sweep(self) -> int:
        """Fail the abandoned tasks now; how many there were."""
        failed = await fail_tasks(self.task_store, await self.abandoned())
        async with self.task_store.engine.begin() as connection:
            stale = time.time() - self.leases.lease_seconds
            await connection.execute(delete(LEASES).where(LEASES.c.expires_at < stale))
        if failed:
            logger.warning("Marked %d abandoned task(s) failed: no live replica was running them", failed)
        return failed

    async def abandoned(self) -> list[Abandoned]:
        model = self.task_store.task_model
        now = time.time()
        grace_cutoff = _utc_now() - timedelta(seconds=self.grace_seconds)
        held = self.leases.held()
        query = (
            select(model.id, model.last_updated, LEASES.c.holder, LEASES.c.expires_at)
            .select_from(model)
            .outerjoin(LEASES, LEASES.c.task_id == model.id)
            .where(model.status["state"].as_string().in_(_UNFINISHED_STATES))
        )
        async with self.task_store.async_session_maker() as session:
            rows = (await session.execute(query)).all()
        found: list[Abandoned] = []
        for task_id, last_updated, holder, expires_at in rows:
            if task_id in held:
                continue
            if holder is None:
                if last_updated is None or last_updated < grace_cutoff:
                    found.append(Abandoned(task_id, "", UNATTENDED_MESSAGE))
            elif expires_at < now or (holder != self.leases.holder and holder_gone(holder)):
                found.append(Abandoned(task_id, holder, INTERRUPTED_MESSAGE))
        return found


async def fail_tasks(task_store: DatabaseTaskStore, tasks: Collection[Abandoned]) -> int:
    """Mark `tasks` failed with their messages where still abandoned (see the module doc); how many were."""
    model = task_store.task_model
    failed = 0
    for task in tasks:
        now = time.time()
        # A live lease blocks the failure, unless its holder is the process found gone.
        live = exists().where(
            LEASES.c.task_id == task.task_id,
            LEASES.c.expires_at >= now,
            LEASES.c.holder != (task.holder if task.holder and holder_gone(task.holder) else ""),
        )
        status = TaskStatus(state=TaskState.TASK_STATE_FAILED, message=_agent_message(task.message))
        status.timestamp.GetCurrentTime()
        async with task_store.engine.begin() as connection:
            result = await connection.execute(
                update(model)
                .where(
                    model.id == task.task_id,
                    model.status["state"].as_string().in_(_UNFINISHED_STATES),
                    ~live,
                )
                .values(status=MessageToDict(status), last_updated=status.timestamp.ToDatetime())
            )
            if result.rowcount:
                dead = [LEASES.c.expires_at < now] + ([LEASES.c.holder == task.holder] if task.holder else [])
                await connection.execute(delete(LEASES).where(LEASES.c.task_id == task.task_id, or_(*dead)))
        failed += result.rowcount
    return failed


def _agent_message(text: str) -> Message:
    return Message(role=Role.ROLE_AGENT, message_id=uuid.uuid4().hex, parts=[Part(text=text)])


def _utc_now() -> datetime:
    """Now as the SDK stores `last_updated`: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
