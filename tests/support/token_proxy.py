"""A reverse proxy that adds a bearer token, for outside test suites that cannot send one.

The public MCP conformance suite (and the A2A TCK) have no option for an `Authorization` header;
`TokenProxy` forwards every request to `target` unchanged but for that header (its own is
replaced), and streams the answer back as it comes, so Server-Sent Events flow through. `Host`
and `Origin` are forwarded as sent: the servers' DNS-rebinding checks see what the suite sent.
Serve it with `asgi_server.ServedApp`.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import httpx
from starlette.types import Message, Receive, Scope, Send

#: Hop-by-hop headers (RFC 9110 §7.6.1) and the ones recomputed for the forwarded message.
_NOT_FORWARDED = frozenset({b"authorization", b"connection", b"keep-alive", b"transfer-encoding", b"content-length"})


class TokenProxy:
    def __init__(self, target: str, token: Callable[[], str]) -> None:
        """`target`: the origin to forward to (`http://127.0.0.1:8701`); `token()`: the bearer token to add."""
        self.target = target.rstrip("/")
        self.token = token
        self._http: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # trust_env=False: a proxy from the environment must not sit between us and 127.0.0.1.
                self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), trust_env=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._http is not None:
                    await self._http.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._http is not None, "TokenProxy serves only inside its lifespan"
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        headers = [(name, value) for name, value in scope["headers"] if name.lower() not in _NOT_FORWARDED]
        headers.append((b"authorization", f"Bearer {self.token()}".encode()))
        query = f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else ""
        request = self._http.build_request(
            scope["method"], f"{self.target}{scope['path']}{query}", headers=headers, content=bytes(body)
        )
        response = await self._http.send(request, stream=True)
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in _NOT_FORWARDED],
                }
            )
            async with anyio.create_task_group() as group:
                # A client that hangs up (the suite closing an SSE stream) ends the upstream stream too.
                group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                group.cancel_scope.cancel()
        finally:
            await response.aclose()


async def _cancel_on_disconnect(receive: Receive, cancel_scope: anyio.CancelScope) -> None:
    message: Message = await receive()
    while message["type"] != "http.disconnect":
        message = await receive()
    cancel_scope.cancel()
