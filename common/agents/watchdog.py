"""No task reads as running without a worker: `fail_unattended_tasks` and the `TaskWatchdog` that runs it.

A task is submitted or working in the store while the executor runs it. If it stops running
without a final state being stored (the process stopped; the store refused the last write, so
the SDK could not record the failure either), the task would read as running forever. Such a
task is marked failed, with a message saying to send the request again:

- at start-up, every unfinished task (no worker can be running yet: `fail_interrupted_tasks`);
- while serving, every `interval_seconds`, an unfinished task that the executor is not running,
  found so at two sweeps in a row (the SDK stores a run's last state just after the run returns:
  one sweep may see that moment).

A task is failed by reading and saving it through the store as its own owner.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection

import anyio
from a2a.server.context import ServerCallContext
from a2a.server.tasks import DatabaseTaskStore
from a2a.types import Message, Part, Role, TaskState
from sqlalchemy import select

from common.agents.owner import ClientUser

__all__ = ["UNATTENDED_MESSAGE", "TaskWatchdog", "fail_unattended_tasks", "unfinished_tasks"]

logger = logging.getLogger(__name__)

#: The status message of a task whose worker stopped without storing its end.
UNATTENDED_MESSAGE = (
    "The agent lost track of this task before it finished (its worker stopped); send the request again."
)
_UNFINISHED_STATES = (
    TaskState.Name(TaskState.TASK_STATE_SUBMITTED),
    TaskState.Name(TaskState.TASK_STATE_WORKING),
    "submitted",  # tasks stored in the A2A 0.3 format
    "working",
)


async def unfinished_tasks(task_store: DatabaseTaskStore) -> list[tuple[str, str]]:
    """(id, owner) of every task stored as submitted or working."""
    model = task_store.task_model
    async with task_store.async_session_maker() as session:
        rows = await session.execute(
            select(model.id, model.owner).where(model.status["state"].as_string().in_(_UNFINISHED_STATES))
        )
        return [(task_id, owner or "") for task_id, owner in rows.all()]


async def fail_unattended_tasks(task_store: DatabaseTaskStore, tasks: Collection[tuple[str, str]], message: str) -> int:
    """Mark `tasks` ((id, owner) pairs) failed with `message` if they are still unfinished; how many were."""
    failed = 0
    for task_id, owner in tasks:
        context = ServerCallContext(user=ClientUser(owner))
        task = await task_store.get(task_id, context)
        if task is None or TaskState.Name(task.status.state) not in _UNFINISHED_STATES:
            continue  # finished meanwhile, or stored without an owner (not by this app)
        task.status.state = TaskState.TASK_STATE_FAILED
        task.status.message.CopyFrom(
            Message(
                role=Role.ROLE_AGENT,
                message_id=uuid.uuid4().hex,
                task_id=task.id,
                context_id=task.context_id,
                parts=[Part(text=message)],
            )
        )
        task.status.timestamp.GetCurrentTime()
        await task_store.save(task, context)
        failed += 1
    return failed


class TaskWatchdog:
    """Fails the tasks left unfinished with no worker (see the module doc); `running()` names the live ones."""

    def __init__(
        self, task_store: DatabaseTaskStore, running: Callable[[], Collection[str]], *, interval_seconds: float = 30.0
    ) -> None:
        self.task_store = task_store
        self.running = running
        self.interval_seconds = interval_seconds
        self._suspects: set[tuple[str, str]] = set()

    async def run(self) -> None:
        while True:
            await anyio.sleep(self.interval_seconds)
            try:
                await self.sweep()
            except Exception:  # the store may be briefly unusable; the next sweep tries again
                logger.exception("The task watchdog's sweep failed")

    async def sweep(self) -> int:
        """One sweep: fail the tasks unattended now and at the previous sweep; how many there were."""
        live = set(self.running())
        unfinished = await unfinished_tasks(self.task_store)
        unattended = {(task_id, owner) for task_id, owner in unfinished if task_id not in live}
        confirmed, self._suspects = unattended & self._suspects, unattended
        failed = await fail_unattended_tasks(self.task_store, confirmed, UNATTENDED_MESSAGE)
        if failed:
            logger.warning("Marked %d task(s) failed: unfinished, and no worker was running them", failed)
        self._suspects -= confirmed
        return failed
