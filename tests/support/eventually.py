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
from types import TracebackType
from typing import TypeVar

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
    attempts = _Attempts(timeout, interval, what, ignoring)
    while True:
        with attempts:
            if value := condition():
                return value
            attempts.last = value
        time.sleep(attempts.pause())


async def eventually_async(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float = _TIMEOUT,
    interval: float = _INTERVAL,
    what: str | Callable[[], str] = "the condition",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """`eventually` for a coroutine condition, sleeping without blocking the event loop."""
    attempts = _Attempts(timeout, interval, what, ignoring)
    while True:
        with attempts:
            if value := await condition():
                return value
            attempts.last = value
        await anyio.sleep(attempts.pause())


class _Attempts:
    """The deadline and the last value seen; as a context, it takes an ignored exception as that value."""

    def __init__(
        self, timeout: float, interval: float, what: str | Callable[[], str], ignoring: tuple[type[Exception], ...]
    ) -> None:
        self._timeout, self._interval, self._what, self._ignoring = timeout, interval, what, ignoring
        self._deadline = time.monotonic() + timeout
        self.last: object = None

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> bool:
        if kind is not None and issubclass(kind, self._ignoring):
            self.last = error
            return True
        return False

    def pause(self) -> float:
        """How long to sleep before the next attempt; the test fails when the deadline has passed."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            described = self._what() if callable(self._what) else self._what
            pytest.fail(f"timed out after {self._timeout:g} s waiting for {described}; last seen: {self.last!r}")
        return min(self._interval, remaining)
