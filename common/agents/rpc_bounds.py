"""A2A JSON-RPC requests held to `common.json_bounds` before the SDK reads them.

a2a-sdk parses a request into protobuf messages. Out of bounds, that fails in ways a caller
cannot act on: a data part nested ~30 levels passes the parse, then the task fails with an
internal error (-32603) in protobuf's decoder; `1e400` is an internal error when the task is
saved; an integer of 5 000 digits an internal error without the request's id; a lone surrogate
is refused, but not a NUL. So the request is checked first, under the rule every component
uses, and refused with the JSON-RPC error naming the field (HTTP 200, as the SDK answers its
own errors): -32602 inside `params`, -32600 elsewhere, -32700 for `NaN` and `Infinity`, which
are not JSON. Bodies that are not JSON at all are left to the SDK (-32700).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response

from common.json_bounds import MAX_DEPTH, MAX_INTEGER_DIGITS, JsonBoundsError, loads

__all__ = ["DATA_PART_DEPTH", "MAX_REQUEST_DEPTH", "refusal"]

#: Levels of a request above a message part's data (`params.message.parts.0.data` is level 6),
#: so that a data part may nest `MAX_DEPTH` levels like any free-form value.
DATA_PART_DEPTH = 5
MAX_REQUEST_DEPTH = MAX_DEPTH + DATA_PART_DEPTH

_PARSE_ERROR = -32700
_INVALID_REQUEST = -32600
_INVALID_PARAMS = -32602


def refusal(body: bytes) -> Response | None:
    """The JSON-RPC error answering `body` when its JSON breaks the bounds, or None to let the SDK handle it."""
    try:
        loads(body, max_depth=MAX_REQUEST_DEPTH)
    except JsonBoundsError as exc:
        if exc.not_json:
            code, what = _PARSE_ERROR, "Parse error"
        elif exc.path == "params" or exc.path.startswith("params."):
            code, what = _INVALID_PARAMS, "Invalid params"
        else:
            code, what = _INVALID_REQUEST, "Invalid request"
        error = {"code": code, "message": f"{what}: {exc}", "data": {"field": exc.path or "body"}}
        return JSONResponse({"jsonrpc": "2.0", "id": _request_id(body), "error": error})
    except ValueError:
        return None
    return None


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
