"""Rate limiting by caller (SECURITY-CHECKLIST row 38): 429 once a caller's bucket is empty.

`TokenBuckets(rate, period)` lets each key make `rate` requests per `period` seconds, in bursts of
up to `rate`; `acquire(key)` returns 0.0 when the request may proceed (and counts it), or the
seconds until it may, for `Retry-After`. `wait(key)` asks the same without counting, and
`refund(key)` gives back what `acquire` took, for limits that count only some outcomes (the token
endpoint's failed authentications). Memory is bounded: past `max_keys` keys the least
recently seen are forgotten, which only ever gives a forgotten key a full bucket again.

`RateLimitMiddleware` applies one bucket per caller to every request. A caller is the OAuth
client of a verified token (the registry's `BearerAuthMiddleware` or the MCP SDK's
authentication, whichever ran first) or else the remote address, so a flood of invalid tokens
is limited by address. A refused request costs a dictionary lookup, so a flood cannot starve
other callers. Paths in `exempt` always answer (liveness probes, the JWKS every verifier needs).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from common.auth.bearer import ACCESS_KEY

__all__ = ["RateLimitMiddleware", "TokenBuckets", "caller_key"]


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
        tokens = self._tokens(key, now)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - tokens) / self.refill_per_second
        self._store(key, tokens, now)
        return wait

    def wait(self, key: str) -> float:
        """Seconds until `key` may make a request (0.0: now); nothing is counted."""
        tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.refill_per_second

    def refund(self, key: str) -> None:
        """Give back one request `acquire` counted for `key`."""
        now = self._clock()
        self._store(key, min(self.capacity, self._tokens(key, now) + 1.0), now)

    def _tokens(self, key: str, now: float) -> float:
        tokens, counted_at = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - counted_at) * self.refill_per_second)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets.pop(key, None)
        self._buckets[key] = (tokens, now)  # most recently used last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, requests_per_second: int, *, exempt: Collection[str] = ()) -> None:
        self.app = app
        self.buckets = TokenBuckets(requests_per_second, 1.0)
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.acquire(caller_key(scope))
        if wait > 0:
            response = JSONResponse(
                {
                    "error": "rate_limited",
                    "error_description": "Too many requests from this caller; retry after the Retry-After delay.",
                },
                status_code=429,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def caller_key(scope: Scope) -> str:
    """The verified OAuth client of the request when there is one, else its remote address."""
    access = scope.get(ACCESS_KEY)
    if isinstance(access, AccessToken):
        return f"client:{access.client_id}"
    user = scope.get("user")
    if isinstance(user, AuthenticatedUser):
        return f"client:{user.access_token.client_id}"
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"
