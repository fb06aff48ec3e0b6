"""Sending recorded deliveries to their agent in the background: the webhooks and `/diagnostics/*` answer at once.

A webhook delivery (or a `/diagnostics/*` request) is recorded `pending` with its payload and
answered 202 before the agent is asked (`Dispatcher.submit`): under a storm, triage may take
longer to create a task than a caller waits, and a caller that gave up while triage still
created the task left an orphan that a re-send doubled. `Deliverer` sends the pending rows with
the non-blocking A2A send, at most `concurrency` at once, each with a deadline of `timeout`
seconds (nobody is waiting for it, so it is generous), and records the outcome:

- taken: the row is `started` with the agent's task and context ids (read live from then on);
- the agent cannot be reached, answers 503, or is not registered: tried again after a capped
  exponential back-off (`RETRY_FIRST_SECONDS` doubling up to `RETRY_MAX_SECONDS`) until the row
  is `max_age` seconds old, then `failed` with the reason (nothing was started at the agent);
- the agent answers an error or garbage, or does not answer within `timeout`: `failed` with the
  reason at once. A timeout is not retried: the agent may have created the task after all, and a
  second send could run the investigation twice.

Pending rows are read again at start-up (`run`), so a router restart loses no delivery. A row
being sent when the router stopped is sent again at the next start; that is the one case in
which an agent may get a delivery twice. One router process per database sends its rows.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from agents.router.tasks import RouterTask, TaskRecords
from common.agents.peers import Peers
from common.errors import BackendError, BackendUnavailable

__all__ = ["RETRY_FIRST_SECONDS", "RETRY_MAX_SECONDS", "Deliverer"]

logger = logging.getLogger(__name__)

#: The first wait before a delivery whose agent could not be reached is tried again; it doubles each time.
RETRY_FIRST_SECONDS = 1.0
#: The longest wait between two tries.
RETRY_MAX_SECONDS = 30.0


class Deliverer:
    def __init__(
        self,
        peers: Peers,
        records: TaskRecords,
        resolve: Callable[[str], Awaitable[str]],
        *,
        timeout: float,
        max_age: float,
        concurrency: int,
    ) -> None:
        """`resolve(agent)` is the agent's URL, or a `BackendUnavailable` when it cannot be found (yet)."""
        self.peers = peers
        self.records = records
        self._resolve = resolve
        self._timeout = timeout
        self._max_age = max_age
        self._concurrency = concurrency
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._tries: dict[str, int] = {}
        self._retries: dict[str, asyncio.TimerHandle] = {}

    def submit(self, task_id: str) -> None:
        """Send the pending delivery `task_id` as soon as a sender is free."""
        self._queue.put_nowait(task_id)

    async def run(self) -> None:
        """Resume the pending deliveries of the record, then send deliveries until cancelled."""
        resumed = await self.records.pending()
        for record in resumed:
            self.submit(record.id)
        if resumed:
            logger.info("Resuming %d delivery(ies) recorded before the router's last stop", len(resumed))
        try:
            async with asyncio.TaskGroup() as senders:
                for _ in range(self._concurrency):
                    senders.create_task(self._sender())
        finally:
            for handle in self._retries.values():
                handle.cancel()

    async def _sender(self) -> None:
        while True:
            task_id = await self._queue.get()
            try:
                await self.deliver(task_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The router's own store failed (or a bug): the row stays pending and is tried again. Should
                # the store have failed just after triage took it, the next try sends it a second time.
                delay = self._later(task_id)
                logger.exception("Delivering router task %s failed; trying again in %.0f s", task_id, delay)

    async def deliver(self, task_id: str) -> None:
        """Send the delivery `task_id` once and record what came of it (or schedule the next try)."""
        record = await self.records.by_id(task_id)
        if record is None or not record.pending:
            self._tries.pop(task_id, None)
            return
        try:
            url = record.agent_url or await self._resolve(record.agent)
            task = await self.peers.start(record.agent, url, json.loads(record.payload or "{}"), seconds=self._timeout)
        except BackendUnavailable as exc:
            await self._unavailable(record, exc)
            return
        except BackendError as exc:
            await self._fail(record, f"The {record.agent} agent could not start the task: {exc}.")
            return
        self._tries.pop(task_id, None)
        await self.records.mark_started(record.id, url, task.id, task.context_id)
        logger.info(
            "Started %s task %s (router task %s) for %s: %s",
            record.agent,
            task.id,
            record.id,
            record.owner,
            record.trigger_summary,
        )

    async def _unavailable(self, record: RouterTask, exc: BackendError) -> None:
        age = self.records.clock() - record.created_at
        if age >= self._max_age:
            await self._fail(
                record,
                f"The {record.agent} agent could not be reached for {age:.0f} s ({exc}); the delivery was given "
                f"up after ROUTER_DELIVERY_MAX_AGE_SECONDS. Start it so it registers in the registry at "
                f"{self.peers.registry_url}",
            )
            return
        delay = self._later(record.id, self._max_age - age)
        logger.warning(
            "Router task %s waits for the %s agent (try %d, again in %.0f s): %s",
            record.id,
            record.agent,
            self._tries[record.id],
            delay,
            exc,
        )

    def _later(self, task_id: str, at_most: float = RETRY_MAX_SECONDS) -> float:
        """Send `task_id` again after its next back-off (at most `at_most` seconds); the delay."""
        tries = self._tries[task_id] = self._tries.get(task_id, 0) + 1
        delay = max(min(RETRY_FIRST_SECONDS * 2.0 ** (tries - 1), RETRY_MAX_SECONDS, at_most), 0.0)
        self._retries[task_id] = asyncio.get_running_loop().call_later(delay, self._retry, task_id)
        return delay

    def _retry(self, task_id: str) -> None:
        del self._retries[task_id]
        self.submit(task_id)

    async def _fail(self, record: RouterTask, reason: str) -> None:
        self._tries.pop(record.id, None)
        full = f"{reason.rstrip('.')}. Send the alert or event again to start a new investigation."
        await self.records.mark_failed(record.id, full)
        logger.warning("Router task %s failed: %s", record.id, full)
