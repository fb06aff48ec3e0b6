"""The bounded task queue of one agent process: admission, turns, and the Retry-After it estimates."""

from __future__ import annotations

import asyncio

import pytest

from common.agents.task_queue import TaskQueue

pytestmark = pytest.mark.anyio


def test_requests_are_admitted_up_to_running_plus_queued_and_a_settled_ticket_frees_its_place() -> None:
    queue = TaskQueue(max_concurrent=2, max_queued=1)
    tickets = [queue.admit() for _ in range(3)]

    assert all(ticket is not None for ticket in tickets)
    assert queue.admit() is None
    first = tickets[0]
    assert first is not None
    first.settle()
    first.settle()  # settling twice frees one place, not two
    assert queue.admit() is not None
    assert queue.admit() is None


async def test_turns_run_at_most_max_concurrent_in_arrival_order_and_time_the_runs() -> None:
    queue = TaskQueue(max_concurrent=1, max_queued=5)
    order: list[int] = []
    release = asyncio.Event()

    async def run(number: int) -> None:
        async with queue.turn(queue.admit()):
            order.append(number)
            await release.wait()

    runs = [asyncio.create_task(run(number)) for number in range(3)]
    while queue.running + queue.waiting < 3:
        await asyncio.sleep(0.01)
    assert (queue.running, queue.waiting, queue.admitted) == (1, 2, 0)
    await asyncio.sleep(0.3)
    release.set()
    await asyncio.gather(*runs)

    assert order == [0, 1, 2]
    assert (queue.running, queue.waiting) == (0, 0)
    # The first run took about 0.3 s and the others none: the mean moved from its 1 s prior toward them.
    assert 0.3 < queue.mean_run_seconds < 1.0
    assert queue.retry_after() == 1  # never less than a second


def test_retry_after_is_when_the_next_place_frees_not_when_the_whole_queue_is_worked_off() -> None:
    queue = TaskQueue(max_concurrent=4, max_queued=100)
    while queue.admit() is not None:
        pass
    queue.mean_run_seconds = 10.0

    # A hundred runs ahead would be 250 s; the refused caller needs one place, which frees in 10 s / 4 slots.
    assert queue.retry_after() == 3
