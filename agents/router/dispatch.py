"""Starting tasks at agents for the router's callers, recording them, and starting each incident once.

`Dispatcher.start` sends the input to the agent with a non-blocking A2A send: it returns as soon
as the agent has created the task (the investigation runs on), and the router records the task
under its own id for the caller who asked. `Dispatcher.once` wraps a start for a webhook
delivery: a delivery whose key was started within the TTL (by this process or, from the record,
before a restart) answers with the tasks started then, as long as one of them is running or
completed; when they all ended failed, rejected or canceled (or their agent no longer knows
them), the delivery is started again and the key maps to the new task from then on (checklist
row 45). Concurrent copies of one delivery wait for the first instead of starting their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from a2a.types import TaskState

from agents.router.models import TaskLink
from agents.router.peers import Peers
from agents.router.tasks import RouterTask, TaskRecords
from common.errors import BackendError, BackendUnavailable

__all__ = ["Dedup", "Dispatcher", "Trigger", "dedup_hash"]

logger = logging.getLogger(__name__)

#: States of a task that ended without a result: its delivery may be started again.
RETRYABLE = frozenset({TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_REJECTED, TaskState.TASK_STATE_CANCELED})


@dataclass(frozen=True)
class Trigger:
    kind: str
    summary: str


@dataclass(frozen=True)
class Dedup:
    """What makes a delivery the same incident (`key`), and the Alertmanager group it belongs to."""

    key: str
    group: str | None = None


def dedup_hash(*parts: str | None) -> str:
    """One key of `parts` (an owner first, so one caller's deliveries never answer another's)."""
    return hashlib.sha256("\x1f".join(part or "" for part in parts).encode()).hexdigest()


class Dispatcher:
    def __init__(
        self,
        peers: Peers,
        records: TaskRecords,
        *,
        base_url: str,
        triage_agent: str,
        triage_url: str | None,
        dedup_ttl_seconds: float,
    ) -> None:
        self.peers = peers
        self.records = records
        self.base_url = base_url.rstrip("/")
        self.triage_agent = triage_agent
        self._triage_url = triage_url
        self._ttl = dedup_ttl_seconds
        self._starting: dict[str, asyncio.Future[list[RouterTask]]] = {}

    async def triage(self) -> str:
        """The triage agent's URL: ROUTER_TRIAGE_URL, else its registry entry; BackendUnavailable naming both."""
        if self._triage_url is not None:
            return self._triage_url
        try:
            return await self.peers.url_of(self.triage_agent)
        except BackendError as exc:
            raise BackendUnavailable(
                f"The {self.triage_agent} agent cannot be found: {exc}. Start it so it registers in the registry "
                "(ROUTER_TRIAGE_AGENT names it), or set ROUTER_TRIAGE_URL.",
                backend=self.triage_agent,
            ) from None

    async def start_triage(
        self, owner: str, payload: Mapping[str, Any], trigger: Trigger, dedup: Dedup | None = None
    ) -> RouterTask:
        return await self.start(owner, self.triage_agent, await self.triage(), payload, trigger, dedup)

    async def start(
        self,
        owner: str,
        agent: str,
        url: str,
        payload: Mapping[str, Any],
        trigger: Trigger,
        dedup: Dedup | None = None,
    ) -> RouterTask:
        """Start a task at `agent` with `payload` as its one data part, and record it for `owner`."""
        created_at = self.records.clock()
        try:
            task = await self.peers.start(agent, url, payload)
        except BackendError as exc:
            # The same kind of error (unreachable, timed out, failed), said for the caller.
            raise type(exc)(
                f"The {agent} agent could not start the task: {exc}. Check that it is running and registered in "
                f"the registry at {self.peers.registry_url}, then send the request again.",
                backend=agent,
                status_code=exc.status_code,
            ) from None
        record = RouterTask(
            id=uuid.uuid4().hex,
            owner=owner,
            agent=agent,
            agent_url=url,
            a2a_task_id=task.id,
            a2a_context_id=task.context_id,
            trigger_kind=trigger.kind,
            trigger_summary=trigger.summary,
            created_at=created_at,
            dedup_key=dedup.key if dedup else None,
            dedup_group=dedup.group if dedup else None,
        )
        await self.records.add(record)
        logger.info("Started %s task %s (router task %s) for %s: %s", agent, task.id, record.id, owner, trigger.summary)
        return record

    async def once(self, key: str, start: Callable[[], Awaitable[list[RouterTask]]]) -> tuple[list[RouterTask], bool]:
        """The tasks of the delivery `key`, and whether it was seen before (then nothing new is started)."""
        pending = self._starting.get(key)
        if pending is not None:
            return list(await asyncio.shield(pending)), True
        pending = self._starting[key] = asyncio.get_running_loop().create_future()
        try:
            earlier = await self.records.by_dedup_key(key, self.records.clock() - self._ttl)
            if earlier and await self._any_alive(earlier):
                pending.set_result(earlier)
                return earlier, True
            tasks = await start()
            if earlier:
                await self.records.retire(earlier)
                logger.info("Started delivery %s again: its earlier task(s) ended without a result", key[:12])
        except asyncio.CancelledError:
            # The copies waiting for this start are not cancelled themselves: they answer 503 and are re-sent.
            interrupted = BackendUnavailable("starting the task was interrupted; send it again", backend="router")
            pending.set_exception(interrupted)
            pending.exception()
            raise
        except Exception as exc:
            pending.set_exception(exc)
            pending.exception()  # marked retrieved: a failure nobody waited for is not an error
            raise
        else:
            pending.set_result(tasks)
            return tasks, False
        finally:
            del self._starting[key]

    async def _any_alive(self, tasks: list[RouterTask]) -> bool:
        """Whether one of `tasks` is running or completed at its agent (not failed, rejected, canceled or gone)."""
        for record in tasks:
            task = await self.peers.task(record.agent, record.agent_url, record.a2a_task_id)
            if task is not None and task.status.state not in RETRYABLE:
                return True
        return False

    def link(self, task: RouterTask) -> TaskLink:
        return TaskLink(id=task.id, url=f"{self.base_url}/tasks/{task.id}", agent=task.agent)
