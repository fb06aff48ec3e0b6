"""Guards in front of every HTTP surface, where the SDK or the server departs from the checklist.

- `HeaderLimitMiddleware`: 431 for request heads over `MAX_HEADER_BYTES`.
- `LingeringH11Protocol`: uvicorn's h11 protocol, but a refused request head gets its 4xx
  delivered instead of a connection reset.
- `InvalidRequestMiddleware`: a body that is JSON but not one JSON-RPC message is -32600.
- `NoSessionsMiddleware`: a server that keeps no MCP sessions answers 404 to a request naming one.
"""

from __future__ import annotations

import json

import h11
from mcp_types import INVALID_PARAMS, INVALID_REQUEST
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "MAX_HEADER_BYTES",
    "HeaderLimitMiddleware",
    "InvalidRequestMiddleware",
    "LingeringH11Protocol",
    "NoSessionsMiddleware",
]

# Real requests carry well under 8 KiB of headers; a 300 KiB Authorization header is an attack.
MAX_HEADER_BYTES = 32 * 1024
# How long a refused connection keeps reading (and discarding) what the client still sends.
LINGER_SECONDS = 2.0


class InvalidRequestMiddleware:
    """Reports a POST to the MCP endpoint whose body is JSON but not one JSON-RPC message as -32600.

    The SDK answers such a body (an array, a string, an object without `jsonrpc`...) with HTTP
    400 and a JSON-RPC error with `id: null` and code -32602 (Invalid params); JSON-RPC 2.0 calls
    it Invalid Request. The status and the SDK's order of checks are kept; only that code (and
    its message, a dump of validation errors) is replaced. Other responses pass untouched.
    """

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []
        body = bytearray()

        async def send_corrected(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 400:
                held.append(message)  # the body decides what this start line says
                return
            if not held:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, corrected = _as_invalid_request(held[0], bytes(body))
            await send(start)
            await send({"type": "http.response.body", "body": corrected})

        await self.app(scope, receive, send_corrected)


def _as_invalid_request(start: Message, body: bytes) -> tuple[Message, bytes]:
    try:
        message = json.loads(body)
    except ValueError:
        return start, body
    error = message.get("error") if isinstance(message, dict) else None
    if not (isinstance(error, dict) and error.get("code") == INVALID_PARAMS and message.get("id") is None):
        return start, body
    message["error"] = {
        "code": INVALID_REQUEST,
        "message": "Invalid Request: the body must be one JSON-RPC 2.0 request, notification or response object.",
    }
    corrected = json.dumps(message).encode()
    headers = [(name, value) for name, value in start["headers"] if name.lower() != b"content-length"]
    headers.append((b"content-length", str(len(corrected)).encode()))
    return {**start, "headers": headers}, corrected


class NoSessionsMiddleware:
    """404 to any request naming an `Mcp-Session-Id`, for a server that issues none (stateless).

    The SDK's stateless transport ignores the header, so a request naming another client's
    session would simply be served as the sender's own. Refusing it instead keeps the rule that a
    session id is only ever honoured for the client it was issued to (there are none), and it is
    what the specification asks of a server that no longer knows a session: a client holding an
    id from an earlier, stateful deployment gets 404 and starts again without one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name == b"mcp-session-id" for name, _ in scope.get("headers", ())):
            error = {
                "code": INVALID_REQUEST,
                "message": "Session not found: this server keeps no sessions; send requests without Mcp-Session-Id.",
            }
            response = JSONResponse({"jsonrpc": "2.0", "id": None, "error": error}, status_code=404)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HeaderLimitMiddleware:
    """Answers 431 to requests whose headers exceed `MAX_HEADER_BYTES`, before any parsing of them."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and sum(len(k) + len(v) for k, v in scope.get("headers", ())) > self.max_bytes:
            response = JSONResponse(
                {"error": "request_header_fields_too_large", "error_description": "Request headers are too large."},
                status_code=431,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class LingeringH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, but a request head it refuses gets its error response delivered.

    uvicorn answers a malformed or oversized head with 400 and closes at once; with the rest of
    a large head still unread, the kernel then resets the connection and the client sees a reset
    instead of the response. Here the server half-closes after the response and discards input
    until the client closes or `LINGER_SECONDS` pass (nothing is buffered), and an oversized head
    is answered 431.
    """

    _lingering = False

    def data_received(self, data: bytes) -> None:
        if not self._lingering:
            super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        too_large = len(self.conn.trailing_data[0]) > (self.config.h11_max_incomplete_event_size or 0)
        status = 431 if too_large else 400
        text = b"Request header fields too large." if too_large else msg.encode("ascii")
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        for event in (h11.Response(status_code=status, headers=headers), h11.Data(data=text), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
