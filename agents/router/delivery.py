"""Sending recorded deliveries to their agent in the background: the webhooks and `/diagnostics/*` answer at once.

A webhook delivery (or a `/diagnostics/*` request) is recorded `pending` with its payload and
answered 202 before the agent is asked (`Dispatcher.submit`): under a storm, triage may take
longer to create a task than a caller waits, and a caller that gave up while triage still
created the task left an orphan that a re-send doubled.

Several router replicas may share one database; each runs a `Deliverer`. There is no queue in
memory: a deliverer claims claimable pending rows from the database (`TaskRecords.claim`, at
most `concurrency` in flight), when woken by a delivery recorded here (`wake`) and every
`poll_seconds` besides (rows recorded by another replica, retries that fell due, leases that ran
out). A claim is a lease of `lease_seconds`, renewed while the row is being sent; only its holder
settles the row. A replica that dies mid-delivery leaves its lease to run out, and another
replica claims the row then.

Each delivery is sent with the non-blocking A2A send, its context id the router task's id, with a
deadline of `timeout` seconds (nobody is waiting for it, so it is generous). A row claimed before
(`attempts` above 1: an earlier claimer may have sent it before it died, or its send timed out)
is first looked up at the agent (A2A `ListTasks` by that context id): a task found is adopted,
not started again, so an investigation never starts twice for one row. Then:

- taken: the row is `started` with the agent's task and context ids (read live from then on);
- the agent cannot be reached, answers 503, does not answer within `timeout`, or is not
  registered: the claim is given back and the row tried again after a capped exponential back-off
  (`RETRY_FIRST_SECONDS` doubling up to `RETRY_MAX_SECONDS`) until it is `max_age` seconds old,
  then `failed` with the reason;
- the agent answers 429 (busy: its queue is full): the row is tried again after the agent's
  `Retry-After` (else the back-off) and never ages out. A busy agent is up and working off its
  queue; failing the rows it has not reached yet would drop the pages of a storm that only
  outlasted `max_age`. What the router holds meanwhile is bounded by its own backlog limit
  (`agents.router.backlog`: past it the webhooks answer 429 and Alertmanager keeps the alerts);
- the agent answers an error or garbage: `failed` with the reason at once.

Grouping (optional, `planner`): alert deliveries are recorded due `group_wait` seconds after
they arrive (`Dispatcher`); when one falls due, it and every alert delivery recorded by then
(never claimed before: not a deferred retry) are claimed as one batch and planned
(`agents.router.grouping`): each group's lead is sent as above (with the members' alerts merged
into its payload when the plan says so), its members are marked `grouped` into it and answered by
its investigation (they carry its A2A ids once it started, and fail with it).

Late pages (`join_seconds` above 0): each lead whose root resource is known is recorded as that
root's lead in the task store (`TaskRecords.take_root`), and a batch is planned with the leads of
the roots it reaches that are still *ongoing*, so that a page of an outage planned after its
investigation started (it arrived later, or another replica claimed it) joins that investigation
instead of starting another. A lead is ongoing, for `join_seconds` after it was planned, while:

- it is pending (not yet taken by its agent, at whichever replica), or
- its agent reports its task submitted or working (or waiting on input), or
- its task completed at most `group_wait` seconds before the batch's first page
  arrived: the page belongs to the burst the investigation answered, and reads as its report.

A lead that failed (its members failed with it), that completed longer ago than that, or whose
agent cannot be read or no longer knows the task, attracts no page: a recurrence of an outage
after its investigation ended deserves an investigation of its own, and a page is never attached
to an investigation whose outcome the router cannot read. Two replicas planning one outage at once
both try to take its root; the second finds it taken and groups its lead and members under the
first's (`take_root`'s primary key decides).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import suppress
from dataclasses import replace
from datetime import UTC
from typing import Protocol

from a2a.types import Task, TaskState

from agents.router.tasks import STARTED, RouterTask, TaskRecords
from common.agents.peers import Peers
from common.errors import BackendError, BackendTimeout, BackendUnavailable

__all__ = ["RETRY_FIRST_SECONDS", "RETRY_MAX_SECONDS", "Deliverer", "Planner", "replica_name"]

logger = logging.getLogger(__name__)

#: The first wait before a delivery whose agent could not be reached is tried again; it doubles each time.
RETRY_FIRST_SECONDS = 1.0
#: The longest wait between two tries.
RETRY_MAX_SECONDS = 30.0
#: Alert deliveries planned as one batch, at most.
GROUP_BATCH = 500
#: Ongoing leads read at their agent at once while a batch is planned.
LEAD_READS = 8
#: States of an agent's task still under way: a page of its outage joins it.
UNDER_WAY = frozenset(
    {
        TaskState.TASK_STATE_SUBMITTED,
        TaskState.TASK_STATE_WORKING,
        TaskState.TASK_STATE_INPUT_REQUIRED,
        TaskState.TASK_STATE_AUTH_REQUIRED,
    }
)


class PlannedGroup(Protocol):
    @property
    def lead(self) -> RouterTask: ...
    @property
    def members(self) -> tuple[RouterTask, ...]: ...
    @property
    def reason(self) -> str: ...
    @property
    def payload(self) -> str | None: ...
    @property
    def root(self) -> str | None: ...
    @property
    def joined(self) -> bool: ...


#: The ongoing leads of the roots asked for, each with its root (`agents.router.grouping.Ongoing`).
Ongoing = Callable[[Collection[str]], Awaitable[Sequence[tuple[str, RouterTask]]]]


class Planner(Protocol):
    """Plans a batch of alert deliveries as groups, each delivery in exactly one (`agents.router.grouping`)."""

    async def plan(
        self, deliveries: Sequence[RouterTask], ongoing: Ongoing | None = None
    ) -> Sequence[PlannedGroup]: ...


def replica_name() -> str:
    """This process's name in the claims it takes: its host, its pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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
        lease_seconds: float,
        poll_seconds: float,
        replica: str | None = None,
        planner: Planner | None = None,
        join_seconds: float = 0.0,
        group_wait: float = 0.0,
    ) -> None:
        """`resolve(agent)` is the agent's URL, or a `BackendUnavailable` when it cannot be found (yet). With a
        `planner`, late pages join ongoing leads planned up to `join_seconds` before (0: never), a lead that
        completed counting as ongoing for `group_wait` seconds (the module doc's rule); the alerts recorded while
        the first of a batch waited its `group_wait` are planned with it."""
        self.peers = peers
        self.records = records
        self.replica = replica or replica_name()
        self._resolve = resolve
        self._timeout = timeout
        self._max_age = max_age
        self._concurrency = concurrency
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._planner = planner
        self._join_seconds = join_seconds
        self._group_wait = group_wait
        self._wake = asyncio.Event()
        #: The rows this replica holds and is sending.
        self._sending: set[str] = set()

    def wake(self, at: float | None = None) -> None:
        """Look for claimable rows now (a delivery was just recorded), or at `at` (on the records' clock: when it
        falls due), rather than at the next poll."""
        if at is None:
            self._wake.set()
        else:
            asyncio.get_running_loop().call_later(max(at - self.records.clock(), 0.0), self._wake.set)

    async def run(self) -> None:
        """Claim and send deliveries until cancelled (those recorded before a restart included)."""
        async with asyncio.TaskGroup() as senders:
            senders.create_task(self._renew_leases())
            while True:
                self._wake.clear()
                try:
                    for record in await self._claim():
                        self._sending.add(record.id)
                        senders.create_task(self._send(record))
                except Exception:
                    # The store failed: nothing was claimed (or the claims run out); tried again at the next poll.
                    logger.exception("Claiming deliveries failed; trying again in %.0f s", self._poll)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)

    async def _claim(self) -> list[RouterTask]:
        free = self._concurrency - len(self._sending)
        if free <= 0:
            return []
        if self._planner is None:
            return await self.records.claim(self.replica, limit=free, lease_seconds=self._lease)
        leads = await self._plan_alerts(free)
        if len(leads) < free:
            leads += await self.records.claim(
                self.replica, limit=free - len(leads), lease_seconds=self._lease, alerts=False
            )
        return leads

    async def _plan_alerts(self, free: int) -> list[RouterTask]:
        """Claim the claimable alert deliveries, plan them, mark the members; the leads to send (at most `free`)."""
        assert self._planner is not None
        batch = await self.records.claim(self.replica, limit=GROUP_BATCH, lease_seconds=self._lease, alerts=True)
        if not batch:
            return []
        if self._group_wait > 0 and len(batch) < GROUP_BATCH:
            # The rest of the burst: every alert recorded by now is planned with the first that fell due (as
            # Alertmanager counts its group_wait from a group's first alert); one planned apart would miss its root.
            batch += await self.records.claim(
                self.replica,
                limit=GROUP_BATCH - len(batch),
                lease_seconds=self._lease,
                alerts=True,
                early_seconds=self._group_wait,
            )
        claimed = {task.id for task in batch}
        first = min(task.created_at for task in batch)
        # Leads found ended while this batch is planned: their roots are taken by this batch's leads.
        ended: set[str] = set()

        async def ongoing(roots: Collection[str]) -> list[tuple[str, RouterTask]]:
            return await self._ongoing(roots, claimed, ended, first - self._group_wait)

        joining = self._join_seconds > 0
        groups = await self._planner.plan(batch, ongoing if joining else None)
        since = self.records.clock() - self._join_seconds
        leads = []
        for group in groups:
            lead = group.lead
            if group.joined:
                await self._join([m.id for m in group.members], lead.id, group.reason)
                continue
            if joining and group.root is not None:
                # A row of this batch holding the root (a lead whose send was deferred, planned again) is this plan's.
                holder = await self.records.take_root(lead, group.root, since=since, ended=ended | claimed)
                if holder != lead.id:
                    reason = f"the investigation of {group.root} was started meanwhile (by another replica)"
                    await self._join([lead.id, *(m.id for m in group.members)], holder, reason)
                    continue
            if group.members:
                members = [member.id for member in group.members]
                marked = await self.records.mark_grouped(members, lead.id, self.replica, lead_payload=group.payload)
                logger.info("Grouped %d delivery(ies) into router task %s: %s", marked, lead.id, group.reason)
                lead = replace(lead, payload=group.payload or lead.payload)
            leads.append(lead)
        # The leads beyond the free senders are claimable again at once (by this replica or another).
        await self.records.release([lead.id for lead in leads[free:]], self.replica)
        return leads[:free]

    async def _join(self, task_ids: list[str], lead_id: str, reason: str) -> None:
        """Have the claimed `task_ids` answered by the ongoing lead `lead_id`; claimable again at once when it ended
        meanwhile (the next plan finds it ended and starts their own investigation)."""
        marked = await self.records.mark_grouped(task_ids, lead_id, self.replica)
        if marked:
            logger.info("%d delivery(ies) joined router task %s: %s", marked, lead_id, reason)
        else:
            await self.records.release(task_ids, self.replica)
            logger.info(
                "Router task %s ended before %d delivery(ies) could join it: planned again", lead_id, len(task_ids)
            )

    async def _ongoing(
        self, roots: Collection[str], claimed: Collection[str], ended: set[str], completed_since: float
    ) -> list[tuple[str, RouterTask]]:
        """The leads of `roots` planned within the join window that are ongoing (the module doc's rule), except
        the rows of the batch itself (a lead whose send was deferred is planned again); adds the others to `ended`."""
        candidates = [
            (root, lead)
            for root, lead in await self.records.leads_of(roots, since=self.records.clock() - self._join_seconds)
            if lead.id not in claimed
        ]
        limiter = asyncio.Semaphore(LEAD_READS)

        async def still(lead: RouterTask) -> bool:
            async with limiter:
                return await self._under_way(lead, completed_since)

        under_way = await asyncio.gather(*(still(lead) for _, lead in candidates))
        ended.update(lead.id for (_, lead), going in zip(candidates, under_way, strict=True) if not going)
        return [pair for pair, going in zip(candidates, under_way, strict=True) if going]

    async def _under_way(self, lead: RouterTask, completed_since: float) -> bool:
        """Whether `lead` is pending, or its task is under way, or it completed at `completed_since` or later."""
        if lead.pending:
            return True
        if lead.delivery != STARTED or not lead.a2a_task_id:
            return False
        try:
            task = await self.peers.task(lead.agent, lead.agent_url, lead.a2a_task_id)
        except BackendError as exc:
            logger.info("Router task %s takes no late page: its %s task cannot be read (%s)", lead.id, lead.agent, exc)
            return False
        if task is None:
            return False
        if task.status.state in UNDER_WAY:
            return True
        ended_at = (
            task.status.timestamp.ToDatetime(tzinfo=UTC).timestamp() if task.status.HasField("timestamp") else 0.0
        )
        return task.status.state == TaskState.TASK_STATE_COMPLETED and ended_at >= completed_since

    async def _send(self, record: RouterTask) -> None:
        try:
            await self.deliver(record)
        except Exception:
            # The router's own store failed (or a bug): the row stays pending and is tried again after a back-off
            # (or once its lease ran out); a try that finds it claimed before looks it up at the agent first.
            logger.exception("Delivering router task %s failed; it is tried again", record.id)
            with suppress(Exception):
                await self.records.defer(record.id, self.replica, self.records.clock() + self._delay(record))
        finally:
            self._sending.discard(record.id)
            self._wake.set()

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            sending = set(self._sending)
            try:
                held = await self.records.renew(sorted(sending), self.replica, self._lease)
            except Exception:
                logger.exception("Renewing the leases of %d delivery(ies) failed", len(sending))
                continue
            for lost in (sending - held) & self._sending:
                logger.warning("Router task %s is no longer held by this replica (its lease ran out)", lost)

    async def deliver(self, record: RouterTask) -> None:
        """Send the claimed delivery `record` once and record what came of it (or when to try again)."""
        try:
            url = record.agent_url or await self._resolve(record.agent)
            task = await self._earlier_task(record, url) if record.attempts > 1 else None
            if task is None:
                payload = json.loads(record.payload or "{}")
                task = await self.peers.start(record.agent, url, payload, seconds=self._timeout, context_id=record.id)
                verb = "Started"
            else:
                verb = "Adopted"
        except (BackendUnavailable, BackendTimeout) as exc:
            await self._unavailable(record, exc)
            return
        except BackendError as exc:
            await self._fail(record, f"The {record.agent} agent could not start the task: {exc}.")
            return
        if not await self.records.mark_started(record.id, url, task.id, task.context_id, replica=self.replica):
            logger.warning("Router task %s was settled by another replica meanwhile (its lease ran out)", record.id)
            return
        logger.info(
            "%s %s task %s (router task %s) for %s: %s",
            verb,
            record.agent,
            task.id,
            record.id,
            record.owner,
            record.trigger_summary,
        )

    async def _earlier_task(self, record: RouterTask, url: str) -> Task | None:
        """The agent's task of an earlier claim of `record` (its context id is the router task's id), if any."""
        tasks = await self.peers.tasks_in_context(record.agent, url, record.id)
        return min(tasks, key=lambda task: task.status.timestamp.ToDatetime()) if tasks else None

    async def _unavailable(self, record: RouterTask, exc: BackendError) -> None:
        age = self.records.clock() - record.created_at
        if _busy(exc):
            delay = self._delay(record, exc)
            await self.records.defer(record.id, self.replica, self.records.clock() + delay)
            logger.info("Router task %s waits for the busy %s agent (again in %.0f s)", record.id, record.agent, delay)
            return
        if age >= self._max_age:
            await self._fail(
                record,
                f"The {record.agent} agent could not be reached for {age:.0f} s ({exc}); the delivery was given "
                f"up after ROUTER_DELIVERY_MAX_AGE_SECONDS. Start it so it registers in the registry at "
                f"{self.peers.registry_url}",
            )
            return
        delay = self._delay(record, exc, self._max_age - age)
        await self.records.defer(record.id, self.replica, self.records.clock() + delay)
        logger.warning(
            "Router task %s waits for the %s agent (try %d, again in %.0f s): %s",
            record.id,
            record.agent,
            record.attempts,
            delay,
            exc,
        )

    @staticmethod
    def _delay(record: RouterTask, exc: BackendError | None = None, at_most: float = RETRY_MAX_SECONDS) -> float:
        """The agent's own `Retry-After` when it said one, else the back-off after the `record.attempts`-th try.

        A busy agent's Retry-After is when its next place frees; the back-off, doubling with every
        429 of a long storm, would keep rows away long after places freed."""
        asked = exc.retry_after_seconds if isinstance(exc, BackendUnavailable) else None
        if asked is not None and asked > 0:
            return max(min(asked, at_most), 0.0)
        backoff = min(RETRY_FIRST_SECONDS * 2.0 ** (max(record.attempts, 1) - 1), RETRY_MAX_SECONDS)
        return max(min(backoff, at_most), 0.0)

    async def _fail(self, record: RouterTask, reason: str) -> None:
        full = f"{reason.rstrip('.')}. Send the alert or event again to start a new investigation."
        if await self.records.mark_failed(record.id, full, replica=self.replica):
            logger.warning("Router task %s failed: %s", record.id, full)


def _busy(exc: BackendError) -> bool:
    """Whether the agent answered 429: it is up, and its queue is full."""
    return isinstance(exc, BackendUnavailable) and exc.status_code == 429
