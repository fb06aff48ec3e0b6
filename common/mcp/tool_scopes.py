"""Per-tool scopes over Streamable HTTP: a tool needing a scope the token lacks is HTTP 403.

The SDK checks one set of scopes for the whole `/mcp` endpoint. Write tools need more (e.g.
`controlplane:write`), and the checklist wants the refusal before the tool runs, as an HTTP 403
`insufficient_scope` challenge naming the scope. `ToolScopeGuard` wraps the SDK's `/mcp` endpoint,
after authentication: it reads the JSON-RPC body (bounded), and for a `tools/call` of a tool in
the scope map checks the token's scopes. Everything else passes through untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from common.auth.bearer import bearer_challenge
from common.held_body import read_held, replaying

__all__ = ["ToolScopeGuard"]


class ToolScopeGuard:
    def __init__(
        self, app: ASGIApp, tool_scopes: Mapping[str, str], *, max_body_bytes: int, resource_metadata: str | None
    ) -> None:
        self.app = app
        self.tool_scopes = dict(tool_scopes)
        self.max_body_bytes = max_body_bytes
        self.resource_metadata = resource_metadata

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if scope["type"] != "http" or scope.get("method") != "POST" or not isinstance(user, AuthenticatedUser):
            await self.app(scope, receive, send)
            return
        messages, body = await read_held(receive, self.max_body_bytes)
        needed = self._needed_scope(body)
        if needed is not None and needed not in user.scopes:
            await self._refuse(needed, scope, receive, send)
            return
        await self.app(scope, replaying(messages, receive), send)

    def _needed_scope(self, body: bytes | None) -> str | None:
        if body is None:
            return None
        try:
            message: Any = json.loads(body)
        except (ValueError, RecursionError):
            return None  # the SDK answers malformed JSON itself
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        return self.tool_scopes.get(name) if isinstance(name, str) else None

    async def _refuse(self, needed: str, scope: Scope, receive: Receive, send: Send) -> None:
        challenge = bearer_challenge(error="insufficient_scope", scope=needed, resource_metadata=self.resource_metadata)
        response = JSONResponse(
            {"error": "insufficient_scope", "error_description": f"This tool requires the scope {needed}."},
            status_code=403,
            headers={"WWW-Authenticate": challenge},
        )
        await response(scope, receive, send)
