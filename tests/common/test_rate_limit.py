"""TokenBuckets: counting, asking without counting, and giving back."""

from __future__ import annotations

from common.rate_limit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_wait_counts_nothing_and_refund_gives_back_one_request() -> None:
    clock = Clock()
    buckets = TokenBuckets(2, 10.0, clock=clock)
    assert buckets.wait("a") == 0.0
    assert [buckets.acquire("a") for _ in range(3)] == [0.0, 0.0, 5.0]
    assert buckets.wait("a") == 5.0
    buckets.refund("a")
    assert buckets.wait("a") == 0.0
    assert buckets.acquire("a") == 0.0
    clock.now += 100
    buckets.refund("a")  # never above the capacity
    assert [buckets.acquire("a") for _ in range(3)] == [0.0, 0.0, 5.0]
