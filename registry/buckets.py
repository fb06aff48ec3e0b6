"""Token buckets by key (a client id, a remote address): rate limiting of token requests.

`TokenBuckets(rate, period)` lets each key make `rate` requests per `period` seconds, in bursts of
up to `rate`. `acquire(key)` returns 0.0 when the request may proceed (and counts it), or the
seconds until it may, for `Retry-After`. Memory is bounded: past `max_keys` keys the least
recently seen are forgotten, which only ever gives a forgotten key a full bucket again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["TokenBuckets"]


class TokenBuckets:
    def __init__(
        self,
        rate: int,
        period: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate < 1 or period <= 0:
            raise ValueError("rate must be >= 1 and period > 0")
        self.capacity = float(rate)
        self.refill_per_second = rate / period
        self.max_keys = max_keys
        self._clock = clock
        # key -> (tokens left, when they were counted); most recently used last.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def acquire(self, key: str) -> float:
        now = self._clock()
        tokens, counted_at = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - counted_at) * self.refill_per_second)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - tokens) / self.refill_per_second
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait
