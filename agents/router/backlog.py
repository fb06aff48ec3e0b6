"""Back-pressure on the webhooks: no new delivery is accepted while too many wait to be sent to triage.

A webhook answers 202 before triage is asked (`agents.router.delivery`), so a storm faster than
triage investigates piles up pending deliveries in the router's record. `BacklogLimit` bounds
that pile: once `limit` deliveries are pending (across every replica sharing the record), a new
delivery is refused with 429 and `Retry-After`, which Alertmanager (and any sender) retries
later; a re-sent delivery already recorded, and a resolved group, are still answered, since they
add nothing to the pile. The figure is read from the record at most every `refresh_seconds`
(one `COUNT` however fast the posts come) and counts this replica's own acceptances in between,
so it overshoots `limit` by at most what the other replicas accepted within one refresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from common.rest import HttpError

__all__ = ["REFRESH_SECONDS", "RETRY_AFTER_SECONDS", "BacklogLimit"]

#: How stale the pending count may be before a delivery reads it again.
REFRESH_SECONDS = 1.0
#: What a refused sender is told to wait: about what triage takes to work a few dozen deliveries off.
RETRY_AFTER_SECONDS = 30


class BacklogLimit:
    def __init__(
        self,
        count: Callable[[], Awaitable[int]],
        limit: int,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`count()` is the number of pending deliveries in the record (every replica's)."""
        self._count = count
        self.limit = limit
        self._refresh = refresh_seconds
        self._clock = clock
        self._pending = 0
        self._read_at: float | None = None
        self._reading = asyncio.Lock()

    async def admit(self) -> None:
        """Count one new delivery in, or `HttpError` 429 when `limit` are already pending."""
        if self._read_at is None or self._clock() - self._read_at >= self._refresh:
            async with self._reading:  # one read for every delivery arriving meanwhile
                if self._read_at is None or self._clock() - self._read_at >= self._refresh:
                    self._pending = await self._count()
                    self._read_at = self._clock()
        if self._pending >= self.limit:
            raise HttpError(
                429,
                "backlog_full",
                f"The router has {self._pending} deliveries waiting for triage, its limit "
                f"(ROUTER_MAX_PENDING_DELIVERIES={self.limit}); new ones are refused until triage catches up. "
                f"Alertmanager retries this notification by itself; other senders retry after {RETRY_AFTER_SECONDS} "
                "s. If it lasts, run more triage workers or replicas, or raise the limit.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self._pending += 1
