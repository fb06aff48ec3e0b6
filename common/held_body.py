"""A request body read ahead by an ASGI guard, then handed on to the app as if unread.

Guards in front of an SDK (`common.mcp.tool_scopes`, `common.jsonrpc_bounds`) must judge a JSON-RPC
body before the SDK parses it, yet the SDK reads the body from `receive` itself. `read_held`
reads the body messages up to a limit and keeps them; `replaying` gives the app a `receive`
that returns them first, then the connection's own messages (a stream's disconnect).
"""

from __future__ import annotations

from starlette.types import Message, Receive

__all__ = ["read_held", "replaying"]


async def read_held(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The request's body messages, and the body when it is within `limit` (None beyond it).

    Past the limit nothing more is buffered: the app, reading on, answers 413 itself.
    """
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > limit:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that returns `messages` first, then what `receive` returns."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
