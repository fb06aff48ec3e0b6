"""MCP over plain HTTP for tests: the `initialize` request a client opens a session with, and the answers.

Raw HTTP rather than an MCP client library, so a test sees the status, headers and body exactly
as a served component sent them, refusals included.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from support.served import ServedComponent

__all__ = ["INITIALIZE", "MCP_HEADERS", "PROTOCOL_VERSION", "assert_initialized", "initialize", "messages"]

MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
PROTOCOL_VERSION = "2025-11-25"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "security-checklist", "version": "1"},
    },
}


def initialize(
    http: httpx.Client, served: ServedComponent, token: str | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST a JSON-RPC `initialize` to /mcp with `token` (if any) and extra `headers`."""
    sent = dict(MCP_HEADERS)
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    return http.post(served.mcp_url, content=json.dumps(INITIALIZE), headers=sent)


def messages(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response, whether sent as JSON or as server-sent events."""
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = response.json()
        return body if isinstance(body, list) else [body]
    if content_type.startswith("text/event-stream"):
        data = [line[len("data:") :].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return [json.loads(item) for item in data if item]
    raise AssertionError(f"not a JSON-RPC response ({response.status_code}, {content_type!r}): {response.text[:200]}")


def assert_initialized(response: httpx.Response, server_name: str = "prometheus-mcp") -> None:
    """`response` opened a session with the MCP server `server_name`."""
    assert response.status_code == 200, response.text
    (message,) = messages(response)
    assert message["id"] == 1
    assert message["result"]["serverInfo"]["name"] == server_name
