"""How a tool error travels over MCP: its message as text for models and people, its kind for programs.

    {"isError": true,
     "content": [{"type": "text", "text": "Error executing tool loki_query_logs: <message>"}],
     "_meta": {"sre/error": {"kind": "not_found", "message": "<message>", "trace_id": "<id>"}}}

`kind` is one of `common.errors.ErrorKind`; `trace_id` is there when the server's log holds the
details (an `internal` failure). An agent decides by `kind` (`ToolCallError.kind` in the toolbox),
never by the message's words.

Why `_meta` and not `structuredContent`: the TypeScript SDK 1.x, which most MCP clients run, checks
an error result's `structuredContent` against the tool's `outputSchema` too, and on a mismatch throws
(-32602) in place of the result, so the model would never read the message
(modelcontextprotocol/typescript-sdk#2748; tests/servers/test_tool_errors.py runs that client).
`_meta` is passed through untouched by every client.
"""

from __future__ import annotations

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError

from common.errors import ErrorKind

__all__ = ["META_KEY", "ToolErrorDetail", "tool_error_detail", "tool_error_result"]

#: The result `_meta` key of the error detail ("sre/" is this project's prefix, as MCP asks of keys).
META_KEY = "sre/error"


class ToolErrorDetail(BaseModel):
    kind: ErrorKind
    message: str
    trace_id: str | None = None


def tool_error_result(tool: str, detail: ToolErrorDetail) -> CallToolResult:
    # The text is what MCPServer writes for a raised ToolError, so models read the same as before.
    return CallToolResult(
        content=[TextContent(type="text", text=f"Error executing tool {tool}: {detail.message}")],
        meta={META_KEY: detail.model_dump(mode="json", exclude_none=True)},
        is_error=True,
    )


def tool_error_detail(result: CallToolResult) -> ToolErrorDetail:
    """What an error result says; a server that names no kind (not one of ours) gives `internal`."""
    text = "".join(getattr(block, "text", "") for block in result.content)
    try:
        return ToolErrorDetail.model_validate((result.meta or {}).get(META_KEY))
    except ValidationError:
        return ToolErrorDetail(kind="internal", message=text)
