"""Scopes for plain HTTP routes served beside an MCP endpoint (loki-mcp's `/loki/api/v1/`).

The SDK authenticates every request of its app (`scope["user"]`) but only refuses anonymous
callers on `/mcp` itself. `ScopedRoutes` does the same for another API mounted in that app: no
or a refused token is 401 with the RFC 9728 challenge, a token without the route's scope is 403
`insufficient_scope` naming it. With authentication disabled (loopback only) it lets all through.
"""

from __future__ import annotations

from collections.abc import Callable

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ScopedRoutes"]


class ScopedRoutes:
    """Requires `needed_scope(method, path)` of every HTTP request to `app`."""

    def __init__(
        self,
        app: ASGIApp,
        needed_scope: Callable[[str, str], str],
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
            sent = any(name == b"authorization" for name, _ in scope.get("headers", ()))
            description = (
                "The bearer token is invalid, expired, or not issued for this server."
                if sent
                else "Authentication required: send a bearer token."
            )
            await self._deny(401, "invalid_token", description, needed, scope, receive, send)
            return
        if needed not in user.scopes:
            description = f"This request needs the scope {needed}; get a token that grants it."
            await self._deny(403, "insufficient_scope", description, needed, scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _deny(
        self, status: int, error: str, description: str, needed: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        challenge = f'Bearer error="{error}"'
        if status == 403:
            challenge += f', scope="{needed}"'
        if self.resource_metadata:
            challenge += f', resource_metadata="{self.resource_metadata}"'
        response = JSONResponse(
            {"error": error, "error_description": description},
            status_code=status,
            headers={"WWW-Authenticate": challenge},
        )
        await response(scope, receive, send)
