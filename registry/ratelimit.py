"""Per-caller rate limiting of every endpoint (SECURITY-CHECKLIST row 38): 429 once a caller's bucket is empty.

A caller is the OAuth client of a valid bearer token (`client:<id>`, put in the scope under
`CALLER_KEY` by the authentication middleware, which runs first) or else the remote address
(`addr:<host>`), so a flood of invalid tokens is limited by address. The buckets
(`registry.buckets.TokenBuckets`, shared with the token endpoint's own limits) hold one second's
worth of requests, refilled at the configured rate, and keep a bounded number of callers.

A refused request costs a dictionary lookup, so a flood cannot starve other callers. The paths
in `exempt` answer even while their caller is limited: `/healthz` (a constant answer that
orchestrators poll) and `/jwks.json` (static, and every verifier of the federation, the
registry's own included, needs it to accept any token).
"""

from __future__ import annotations

import math
from collections.abc import Collection

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from registry.buckets import TokenBuckets

__all__ = ["CALLER_KEY", "RateLimitMiddleware", "caller_key"]

#: ASGI scope key holding the verified client id, for rate limiting per caller.
CALLER_KEY = "sre.caller"


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
    client_id = scope.get(CALLER_KEY)
    if isinstance(client_id, str):
        return f"client:{client_id}"
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"
