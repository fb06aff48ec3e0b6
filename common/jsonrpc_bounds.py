"""JSON-RPC requests (A2A's and MCP's) held to `common.json_bounds` before an SDK reads them.

Both SDKs parse a request their own way, and out of bounds they fail in ways a caller cannot
act on. a2a-sdk builds protobuf messages: a data part nested ~30 levels passes the parse, then
the task fails with an internal error (-32603) in protobuf's decoder; `1e400` is an internal
error when the task is saved; an integer of 5 000 digits an internal error without the
request's id; a NUL is kept. The MCP SDK's parser refuses a value nested ~200 levels, a lone
surrogate or an integer past 64 bits with a bare "Parse error" naming no field, and lets the
rest through to the tools.

So the request is checked first, under the rule every component uses, and refused with a
JSON-RPC error naming the field: -32602 inside `params`, -32600 elsewhere, -32700 for `NaN`
and `Infinity`, which are not JSON. A body that is not JSON at all is left to the SDK. Free-form
values sit some levels down a request (an A2A data part at `params.message.parts.0.data`, MCP
tool arguments at `params.arguments`); `params_depth` allows for those levels, so such a value
may nest `MAX_DEPTH` levels of its own, as anywhere else.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from common.held_body import read_held, replaying
from common.json_bounds import MAX_DEPTH, MAX_INTEGER_DIGITS, JsonBoundsError, loads

__all__ = ["A2A_DATA_PART_DEPTH", "MCP_ARGUMENTS_DEPTH", "JsonRpcBoundsGuard", "refusal"]

#: Levels of an A2A request above a message part's data (`params.message.parts.0.data` is level 6).
A2A_DATA_PART_DEPTH = 5
#: Levels of an MCP `tools/call` above its arguments object (`params.arguments` is level 3).
MCP_ARGUMENTS_DEPTH = 2

_PARSE_ERROR = -32700
_INVALID_REQUEST = -32600
_INVALID_PARAMS = -32602


def refusal(body: bytes, *, params_depth: int, status: int = 200) -> Response | None:
    """The JSON-RPC error answering `body` (HTTP `status`) when its JSON breaks the bounds, else None."""
    try:
        loads(body, max_depth=MAX_DEPTH + params_depth)
    except JsonBoundsError as exc:
        if exc.not_json:
            code, what = _PARSE_ERROR, "Parse error"
        elif exc.path == "params" or exc.path.startswith("params."):
            code, what = _INVALID_PARAMS, "Invalid params"
        else:
            code, what = _INVALID_REQUEST, "Invalid request"
        error = {"code": code, "message": f"{what}: {exc}", "data": {"field": exc.path or "body"}}
        return JSONResponse({"jsonrpc": "2.0", "id": _request_id(body), "error": error}, status_code=status)
    except ValueError:
        return None
    return None


class JsonRpcBoundsGuard:
    """ASGI guard of a JSON-RPC endpoint: a POST whose body breaks the bounds gets `refusal`'s answer.

    The body is read up to `max_body_bytes`; a longer one passes untouched to the app, which
    answers 413 itself. The body is replayed to the app as it came. Behind authentication, a
    request without a verified user passes untouched, so that its 401 comes first.
    """

    def __init__(self, app: ASGIApp, *, params_depth: int, max_body_bytes: int, status: int = 200) -> None:
        self.app = app
        self.params_depth = params_depth
        self.max_body_bytes = max_body_bytes
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        unauthenticated = user is not None and not getattr(user, "is_authenticated", True)
        if scope["type"] != "http" or scope.get("method") != "POST" or unauthenticated:
            # A request refused for want of credentials gets that answer first, its body unread.
            await self.app(scope, receive, send)
            return
        messages, body = await read_held(receive, self.max_body_bytes)
        refused = refusal(body, params_depth=self.params_depth, status=self.status) if body is not None else None
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, replaying(messages, receive), send)


def _request_id(body: bytes) -> str | int | None:
    """The request's id when it can be read: the request may hold what Python's json refuses."""
    try:
        request: Any = json.loads(body, parse_int=_small_int, parse_constant=str)
    except (ValueError, RecursionError):
        return None
    identifier = request.get("id") if isinstance(request, dict) else None
    return identifier if isinstance(identifier, str | int) and not isinstance(identifier, bool) else None


def _small_int(text: str) -> int | str:
    return int(text) if len(text) <= MAX_INTEGER_DIGITS + 1 else text
