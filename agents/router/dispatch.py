"""Starting tasks at agents for the router's callers, recording them, and starting each incident once.

Two ways to start. `Dispatcher.submit` (the webhooks and `/diagnostics/*`: machines and scripts
that send and follow later) records the task as a pending delivery and returns at once;
`Dispatcher.deliveries` (`agents.router.delivery`) sends it to triage in the background, so a
storm of deliveries never waits on triage creating its tasks, and a caller's timeout cannot leave
a task the router does not know. `Dispatcher.start` (`/execute`, and nothing else: a person is
waiting for the answer and wants a 5xx now rather than a task failing later) sends the input
with a non-blocking A2A send, waits until the agent has created the task, and records it.

`Dispatcher.once` wraps a submit for a webhook delivery, and holds across router replicas
sharing one database (Alertmanager in HA sends each notification from every instance, to any
replica): the record's unique key decides, not this process's memory. A delivery whose key a
row holds (recorded within the TTL, by any replica, before a restart or not) answers with that
task, as long as it is pending, grouped, running or completed (or its agent cannot be read just
now: a second investigation is worse than a late one); when it ended failed, rejected or
canceled (or its agent no longer knows it), its key is retired and the delivery recorded again
(checklist row 45). Two copies recorded at once by two replicas: the insert of the second finds
the key held (`KeyHeld`) and answers the first's task. Concurrent copies in one process wait for
the first instead of reading the record themselves (a fast path, not what makes it hold).

Alert deliveries are recorded due `group_wait_seconds` after they arrive when a grouping planner
is configured (`agents.router.delivery`), so that related alerts arriving together are planned
as one batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from a2a.types import TaskState
from sqlalchemy.exc import SQLAlchemyError

from agents.router.delivery import Deliverer, Planner
from agents.router.models import TaskLink
from agents.router.tasks import ALERT, PENDING, STARTED, KeyHeld, RouterTask, TaskRecords
from common.agents.peers import Peers
from common.errors import BackendError, BackendUnavailable

__all__ = ["Dedup", "Dispatcher", "Trigger", "dedup_hash"]

logger = logging.getLogger(__name__)

#: How many times a delivery reads its key's holder and tries to record itself before giving up (503): each miss
#: means another request recorded or retired the key in between, which settles within a try or two.
_KEY_TRIES = 3
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
        delivery_timeout_seconds: float,
        delivery_max_age_seconds: float,
        delivery_concurrency: int,
        delivery_lease_seconds: float,
        delivery_poll_seconds: float,
        planner: Planner | None = None,
        group_wait_seconds: float = 0.0,
        group_join_seconds: float = 0.0,
    ) -> None:
        """`planner` groups related alert deliveries, which then wait `group_wait_seconds` (None: no grouping); a
        late page joins an ongoing investigation of its outage started up to `group_join_seconds` before."""
        self.peers = peers
        self.records = records
        self.base_url = base_url.rstrip("/")
        self.triage_agent = triage_agent
        self._triage_url = triage_url
        self._ttl = dedup_ttl_seconds
        self._group_wait = group_wait_seconds if planner is not None else 0.0
        self._starting: dict[str, asyncio.Future[tuple[list[RouterTask], bool]]] = {}
        self.deliveries = Deliverer(
            peers,
            records,
            self._url_of,
            timeout=delivery_timeout_seconds,
            max_age=delivery_max_age_seconds,
            concurrency=delivery_concurrency,
            lease_seconds=delivery_lease_seconds,
            poll_seconds=delivery_poll_seconds,
            planner=planner,
            join_seconds=group_join_seconds,
            group_wait=self._group_wait,
        )

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

    async def _url_of(self, agent: str) -> str:
        if agent == self.triage_agent:
            return await self.triage()
        try:
            return await self.peers.url_of(agent)
        except BackendError as exc:
            raise BackendUnavailable(f"The {agent} agent cannot be found: {exc}.", backend=agent) from None

    async def submit(
        self, owner: str, payload: Mapping[str, Any], trigger: Trigger, dedup: Dedup | None = None
    ) -> RouterTask:
        """Record a triage task for `owner` as a pending delivery, and have it sent in the background.

        `BackendUnavailable` (naming the router) when the router cannot record it: nothing was started;
        `KeyHeld` when `dedup`'s key is held by another row (recorded within the TTL).
        """
        created_at = self.records.clock()
        due_at = created_at + self._group_wait if self._group_wait and trigger.kind == ALERT else None
        record = RouterTask(
            id=uuid.uuid4().hex,
            owner=owner,
            agent=self.triage_agent,
            agent_url="",  # resolved when it is sent: triage may not be registered yet
            a2a_task_id="",
            a2a_context_id="",
            trigger_kind=trigger.kind,
            trigger_summary=trigger.summary,
            created_at=created_at,
            dedup_key=dedup.key if dedup else None,
            dedup_group=dedup.group if dedup else None,
            delivery=PENDING,
            payload=json.dumps(payload, ensure_ascii=False),
            due_at=due_at,
        )
        try:
            await self.records.add(record, release_before=created_at - self._ttl)
        except SQLAlchemyError as exc:
            logger.error("Recording router task %s failed: %s", record.id, exc)
            raise BackendUnavailable(
                "The router could not record the task in its database; nothing was started. Send the request "
                "again in a moment, and check the router's log and its task store (ROUTER_TASK_STORE_URL).",
                backend="router",
            ) from None
        self.deliveries.wake(due_at)
        logger.info("Recorded %s task %s for %s: %s", record.agent, record.id, owner, trigger.summary)
        return record

    async def start(
        self,
        owner: str,
        agent: str,
        url: str,
        payload: Mapping[str, Any],
        trigger: Trigger,
    ) -> RouterTask:
        """Start a task at `agent` with `payload` as its one data part, wait until it is created, and record it."""
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
            delivery=STARTED,
        )
        await self.records.add(record)
        logger.info("Started %s task %s (router task %s) for %s: %s", agent, task.id, record.id, owner, trigger.summary)
        return record

    async def once(self, key: str, start: Callable[[], Awaitable[list[RouterTask]]]) -> tuple[list[RouterTask], bool]:
        """The tasks of the delivery `key`, and whether it was seen before (then nothing new is started)."""
        pending = self._starting.get(key)
        if pending is not None:
            tasks, _ = await asyncio.shield(pending)
            return list(tasks), True
        pending = self._starting[key] = asyncio.get_running_loop().create_future()
        try:
            outcome = await self._record_once(key, start)
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
            pending.set_result(outcome)
            return outcome
        finally:
            del self._starting[key]

    async def _record_once(
        self, key: str, start: Callable[[], Awaitable[list[RouterTask]]]
    ) -> tuple[list[RouterTask], bool]:
        for _ in range(_KEY_TRIES):
            holder = await self.records.holder(key, self.records.clock() - self._ttl)
            if holder is not None:
                if await self._alive(holder):
                    return [holder], True
                if await self.records.retire(holder):
                    logger.info("Starting delivery %s again: its earlier task ended without a result", key[:12])
            try:
                return await start(), False
            except KeyHeld as held:
                logger.debug("Delivery %s was recorded meanwhile as router task %s", key[:12], held.holder.id)
        raise BackendUnavailable(
            "The router could not record the delivery: its de-duplication key changed hands while it tried. "
            "Send it again in a moment.",
            backend="router",
        )

    async def _alive(self, record: RouterTask) -> bool:
        """Whether `record` is pending, grouped, running or completed (not failed, rejected, canceled or gone)."""
        if record.failed:
            return False
        if not record.taken:
            return True  # pending, or grouped into a delivery still pending
        try:
            task = await self.peers.task(record.agent, record.agent_url, record.a2a_task_id)
        except BackendError as exc:
            logger.warning("Counting router task %s as running: its agent cannot be read (%s)", record.id, exc)
            return True
        return task is not None and task.status.state not in RETRYABLE

    def link(self, task: RouterTask) -> TaskLink:
        return TaskLink(id=task.id, url=f"{self.base_url}/tasks/{task.id}", agent=task.agent)
