"""The runs of one agent process, bounded: `TaskQueue`, at most `max_concurrent` running and `max_queued` waiting.

A request that would start a run (`SendMessage`, `SendStreamingMessage`) is admitted first
(`admit`), before the SDK creates its task: it gets a `Ticket`, or None when `max_concurrent +
max_queued` runs are already running, waiting or admitted, and is then answered HTTP 429 (see
`common.agents.app`). The executor `settle`s the ticket when it takes the task and runs it in
its `turn()`: tasks wait for a turn in arrival order. A ticket whose request never reached the
executor (refused by the SDK, the client gone) is settled when its response ends.

`retry_after()` is what a refused caller is told to wait, in whole seconds (at least 1): the
recent run time (an exponentially weighted mean of the last runs, `_PRIOR_RUN_SECONDS` before
the first) spread over the concurrent runs, which is about when the next run ends and so frees
a place. A refused caller needs only that one place, not the whole queue worked off: told the
time for the queue (a hundred runs ahead), every refused sender in an alert storm stayed away
for minutes while places freed every second, and the backlog drained that much later. The
counters are the only state: nothing grows with the requests.

`QueueGauges` shows them on `/metrics`: `sre_agent_tasks{state="running"|"waiting"}` (waiting
counts the admitted requests whose task the executor has not taken yet) and
`sre_agent_run_seconds_mean`, where an operator sees a process saturate before it answers 429.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["DEFAULT_MAX_QUEUED_TASKS", "QueueGauges", "TaskQueue", "Ticket"]

#: Tasks that may wait for a run before requests are refused with 429.
DEFAULT_MAX_QUEUED_TASKS = 100
#: The run time assumed before any run has finished.
_PRIOR_RUN_SECONDS = 1.0
#: Weight of the last run in the mean run time.
_WEIGHT = 0.2
#: Retry-After never says more than this (a client checks back at least every 10 minutes).
_MAX_RETRY_AFTER_SECONDS = 600


class Ticket:
    """A request admitted to the queue and not yet taken by the executor."""

    def __init__(self, queue: TaskQueue) -> None:
        self._queue: TaskQueue | None = queue

    def settle(self) -> None:
        """The request reached the executor or ended; idempotent."""
        if self._queue is not None:
            self._queue.admitted -= 1
            self._queue = None


class TaskQueue:
    def __init__(self, *, max_concurrent: int, max_queued: int) -> None:
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.admitted = 0
        self.waiting = 0
        self.running = 0
        self.mean_run_seconds = _PRIOR_RUN_SECONDS
        self._slots = asyncio.Semaphore(max_concurrent)

    @property
    def capacity(self) -> int:
        return self.max_concurrent + self.max_queued

    def admit(self) -> Ticket | None:
        """A ticket for one more task, or None when the queue is full."""
        if self.admitted + self.waiting + self.running >= self.capacity:
            return None
        self.admitted += 1
        return Ticket(self)

    @asynccontextmanager
    async def turn(self, ticket: Ticket | None) -> AsyncIterator[None]:
        """Settle `ticket`, wait for a run slot (arrival order), hold it while the body runs, and time the run."""
        self.waiting += 1
        if ticket is not None:
            ticket.settle()
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        started = time.monotonic()
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()
            elapsed = time.monotonic() - started
            self.mean_run_seconds += _WEIGHT * (elapsed - self.mean_run_seconds)

    def retry_after(self) -> int:
        """Seconds until a place in the queue about frees (see the module doc)."""
        seconds = self.mean_run_seconds / self.max_concurrent
        return max(1, min(_MAX_RETRY_AFTER_SECONDS, math.ceil(seconds)))


class QueueGauges(Collector):
    """The queue's counters as gauges of `component`, read at each scrape."""

    def __init__(self, component: str, queue: TaskQueue) -> None:
        self.component = component
        self.queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tasks = GaugeMetricFamily(
            "sre_agent_tasks", "Tasks of this process running, and waiting for a run.", labels=["component", "state"]
        )
        tasks.add_metric([self.component, "running"], self.queue.running)
        tasks.add_metric([self.component, "waiting"], self.queue.waiting + self.queue.admitted)
        mean = GaugeMetricFamily(
            "sre_agent_run_seconds_mean",
            "Recent mean run time (what Retry-After is estimated from).",
            labels=["component"],
        )
        mean.add_metric([self.component], self.queue.mean_run_seconds)
        yield tasks
        yield mean
