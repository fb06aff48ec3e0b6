"""Bearer tokens and scopes for the HTTP routes of an MCP server's app: `/mcp` and the APIs beside it.

The SDK authenticates every request of its app (`scope["user"]`) and refuses anonymous callers
on `/mcp` only, always with `error="invalid_token"`, even to a request that sent no credentials.
`ScopedRoutes` guards `/mcp` in the SDK's stead and another API mounted in that app (loki-mcp's
`/loki/api/v1/`): no token is 401 with the RFC 9728 challenge and no error code (RFC 6750 §3.1),
a refused token 401 `invalid_token`, a token without the route's scope 403 `insufficient_scope`
naming it. With authentication disabled (loopback only) it lets all through.
"""

from __future__ import annotations

from collections.abc import Callable

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from common.auth.bearer import bearer_challenge, sent_credentials

__all__ = ["ScopedRoutes"]


class ScopedRoutes:
    """Requires a valid token, and the scope `needed_scope(method, path)` unless that is None, of every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        needed_scope: Callable[[str, str], str | None],
        *,
        enabled: bool,
        resource_metadata: str | None,
    ) -> None:
        self.app = app
        self.needed_scope = needed_scope
        self.enabled = enabled
        self.resource_metadata = resource_metadata

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        user = scope.get("user")
        needed = self.needed_scope(scope["method"], scope["path"])
        if not isinstance(user, AuthenticatedUser):
            if sent_credentials(scope):
                description = "The bearer token is invalid, expired, or not issued for this server."
                await self._deny(401, "invalid_token", description, None, scope, receive, send)
            else:
                description = "Authentication required: send a bearer token."
                await self._deny(401, None, description, None, scope, receive, send)
            return
        if needed is not None and needed not in user.scopes:
            description = f"This request needs the scope {needed}; get a token that grants it."
            await self._deny(403, "insufficient_scope", description, needed, scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _deny(
        self,
        status: int,
        error: str | None,
        description: str,
        needed: str | None,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        challenge = bearer_challenge(error=error, scope=needed, resource_metadata=self.resource_metadata)
        response = JSONResponse(
            # The body keeps a code either way: clients read it, and RFC 6750 only governs the header.
            {"error": error or "invalid_token", "error_description": description},
            status_code=status,
            headers={"WWW-Authenticate": challenge},
        )
        await response(scope, receive, send)
