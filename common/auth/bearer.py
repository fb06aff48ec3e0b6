"""Bearer-token authentication for plain Starlette apps (the registry, A2A agents).

`BearerAuthMiddleware` verifies the `Authorization: Bearer` token of each request once, with a
`TokenVerifier` (normally `common.auth.JwtVerifier`), and leaves the outcome in the ASGI scope
under `ACCESS_KEY`: absent when no token was sent, None when one was refused, else the
`AccessToken`. It never answers itself: each route decides what it requires, so public routes
(an agent card, health) need no special casing.

`bearer_challenge` writes the `WWW-Authenticate` value of every refusal, on every surface, as RFC
6750 §3 wants it: a 401 to a request that sent no credentials names no error code (§3.1), one
whose credentials were refused says `invalid_token`, a 403 says `insufficient_scope` and the scope.
"""

from __future__ import annotations

from mcp.server.auth.provider import TokenVerifier
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ACCESS_KEY", "BearerAuthMiddleware", "bearer_challenge", "sent_credentials"]

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


def sent_credentials(scope: Scope) -> bool:
    """Whether the request carries an Authorization header (of any scheme, even an empty one)."""
    return any(name == b"authorization" for name, _ in scope.get("headers", ()))


def bearer_challenge(
    *,
    error: str | None = None,
    scope: str | None = None,
    realm: str | None = None,
    resource_metadata: str | None = None,
) -> str:
    """A `WWW-Authenticate: Bearer` challenge; `error=None` for a request that sent no credentials.

    RFC 6750 §3.1: a client that did not know authentication was needed gets no error code,
    only where to authenticate (`realm`, or the RFC 9728 `resource_metadata` of an MCP server).
    """
    params = [f'realm="{realm}"'] if realm else []
    if error:
        params.append(f'error="{error}"')
    if scope:
        params.append(f'scope="{scope}"')
    if resource_metadata:
        params.append(f'resource_metadata="{resource_metadata}"')
    return "Bearer " + ", ".join(params) if params else "Bearer"
