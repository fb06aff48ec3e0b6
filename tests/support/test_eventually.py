"""`eventually`: what a test waiting for something sees when it comes, when it does not, and when
the wait itself breaks."""

from __future__ import annotations

import itertools
import time

import pytest

from support.eventually import eventually, eventually_async


def test_returns_the_first_truthy_value_once_it_comes() -> None:
    calls = itertools.count(1)

    assert eventually(lambda: next(calls) >= 3 and "ready", interval=0.001) == "ready"
    assert next(calls) == 4  # polled until the third call answered, then no more


def test_fails_naming_what_it_waited_for_and_the_last_value_seen() -> None:
    started = time.monotonic()

    with pytest.raises(pytest.fail.Exception, match=r"waiting for the delivery; last seen: \[\]"):
        eventually(list, timeout=0.2, interval=0.05, what="the delivery")

    assert 0.2 <= time.monotonic() - started < 2


def test_a_description_given_as_a_function_is_read_only_when_the_wait_fails() -> None:
    log = ["starting"]
    described: list[str] = []

    def describe() -> str:
        described.append(log[-1])
        return f"the server; its log ends {log[-1]!r}"

    assert eventually(lambda: "listening", what=describe)
    assert described == []

    log.append("crashed")
    with pytest.raises(pytest.fail.Exception, match="its log ends 'crashed'"):
        eventually(lambda: False, timeout=0.05, what=describe)


def test_checks_once_more_at_the_deadline_even_when_the_interval_is_longer() -> None:
    started = time.monotonic()

    assert eventually(lambda: time.monotonic() - started >= 0.1, timeout=0.1, interval=10)


def test_an_exception_ends_the_wait_at_once_unless_it_is_ignored() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("not listening yet")

    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        eventually(refused, timeout=5)
    assert time.monotonic() - started < 1

    with pytest.raises(pytest.fail.Exception, match="ConnectionRefusedError"):
        eventually(refused, timeout=0.1, ignoring=(ConnectionRefusedError,))


@pytest.mark.anyio
async def test_the_async_flavour_awaits_the_condition() -> None:
    calls = itertools.count(1)

    async def third_call() -> int | None:
        call = next(calls)
        return call if call >= 3 else None

    assert await eventually_async(third_call, interval=0.001) == 3

    async def never() -> None:
        return None

    with pytest.raises(pytest.fail.Exception, match="waiting for nothing"):
        await eventually_async(never, timeout=0.1, what="nothing")
