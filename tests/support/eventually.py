"""Wait for something to become true: the one poll loop of the tests.

A test that waits for a process, a delivery or a log line calls `eventually(condition)`: the
condition is called until it returns something truthy, which `eventually` returns, so the test can
assert on it. After `timeout` the test fails with `what` and the last value seen (or the last
exception `ignoring` let through), which is usually the first thing one needs to see; `what` may be
a function, called only then (to quote a log's tail as it is at the failure). The condition
is checked once more at the deadline, so a slow sleep never turns a success into a failure.

An exception the condition raises ends the wait at once (a process that died, a task that failed),
unless it is one of `ignoring` (a server not yet listening refuses connections).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import anyio
import pytest

__all__ = ["eventually", "eventually_async"]

T = TypeVar("T")

_TIMEOUT = 10.0
_INTERVAL = 0.05


def eventually(
    condition: Callable[[], T],
    *,
    timeout: float = _TIMEOUT,
    interval: float = _INTERVAL,
    what: str | Callable[[], str] = "the condition",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """The first truthy value `condition()` returns within `timeout` seconds; else the test fails."""
    deadline = time.monotonic() + timeout
    while True:
        last: object
        try:
            value = condition()
        except ignoring as error:
            last = error
        else:
            if value:
                return value
            last = value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _fail(timeout, what, last)
        time.sleep(min(interval, remaining))


async def eventually_async(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float = _TIMEOUT,
    interval: float = _INTERVAL,
    what: str | Callable[[], str] = "the condition",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """`eventually` for a coroutine condition, sleeping without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        last: object
        try:
            value = await condition()
        except ignoring as error:
            last = error
        else:
            if value:
                return value
            last = value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _fail(timeout, what, last)
        await anyio.sleep(min(interval, remaining))


def _fail(timeout: float, what: str | Callable[[], str], last: object) -> NoReturn:
    described = what() if callable(what) else what
    pytest.fail(f"timed out after {timeout:g} s waiting for {described}; last seen: {last!r}")
