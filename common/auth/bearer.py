"""Bearer-token authentication for plain Starlette apps (the registry, A2A agents).

`BearerAuthMiddleware` verifies the `Authorization: Bearer` token of each request once, with a
`TokenVerifier` (normally `common.auth.JwtVerifier`), and leaves the outcome in the ASGI scope
under `ACCESS_KEY`: absent when no token was sent, None when one was refused, else the
`AccessToken`. It never answers itself: each route decides what it requires, so public routes
(an agent card, health) need no special casing.
"""

from __future__ import annotations

from mcp.server.auth.provider import TokenVerifier
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ACCESS_KEY", "BearerAuthMiddleware"]

#: Scope key holding the verified `AccessToken`, or None when a token was presented and refused.
ACCESS_KEY = "sre.access"


class BearerAuthMiddleware:
    """Verifies the bearer token of each request (if any) before rate limiting and routing.

    It runs first so the rate limiter can key on the verified client; it never answers itself,
    the routes decide what they require. The token is read from the Authorization header only
    (never from the query string), and paths in `skip` are not verified at all.
    """

    def __init__(self, app: ASGIApp, verifier: TokenVerifier | None, *, skip: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.verifier = verifier
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.verifier is not None and scope["path"] not in self.skip:
            token = _bearer_token(scope)
            if token is not None:
                access = await self.verifier.verify_token(token) if token else None
                scope[ACCESS_KEY] = access
        await self.app(scope, receive, send)


def _bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer` header; "" for any other Authorization; None without one."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token and " " not in token else ""
    return None
