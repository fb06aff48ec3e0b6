"""A tool that needs a scope the token lacks is refused with HTTP 403 before it runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver import MCPServer
from support.asgi_server import ServedApp
from support.backends import free_port
from support.issuer import TestIssuer

from common.contracts.results import ToolResult
from common.mcp.serving import mcp_auth, mcp_http_app
from common.mcp.tools import ToolGate, ToolSpec, build_tools, tool_scopes
from common.metrics import ServerMetrics
from common.settings import AuthConfig, ServeSettings

RUNS: list[str] = []


class Done(ToolResult):
    done: str

    def render_text(self) -> str:
        return self.done


async def read_things() -> Done:
    """Read."""
    RUNS.append("read")
    return Done(done="read")


async def restart_thing() -> Done:
    """Write."""
    RUNS.append("restart")
    return Done(done="restarted")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ServedApp, TestIssuer, str]]:
    with TestIssuer() as issuer:
        port = free_port()
        serve = ServeSettings(port=port, auth=AuthConfig(issuer=issuer.issuer, jwks_url=issuer.jwks_url))
        specs = [ToolSpec(read_things, "Read"), ToolSpec(restart_thing, "Restart", scope="things:write")]
        tools = build_tools(specs)
        auth = mcp_auth(serve, ["things:read"])
        server: MCPServer[Any] = MCPServer(
            "scoped", tools=tools, middleware=[ToolGate(tools)], token_verifier=auth.verifier, auth=auth.settings
        )
        app = mcp_http_app(server, serve, ServerMetrics("scoped"), auth, tool_scopes=tool_scopes(specs))
        # The port is chosen first: the token audience names it.
        with ServedApp(app, port=port) as runner:
            yield runner, issuer, f"http://127.0.0.1:{port}/mcp"


def session(http: httpx.Client, url: str, token: str) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    response = http.post(url, json=init, headers=headers)
    assert response.status_code == 200, response.text
    http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


def call(http: httpx.Client, url: str, headers: dict[str, str], tool: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": {}}}
    return http.post(url, json=body, headers=headers)


def test_a_write_tool_without_its_scope_is_403_naming_the_scope(served: tuple[ServedApp, TestIssuer, str]) -> None:
    _, issuer, url = served
    RUNS.clear()
    with httpx.Client(timeout=10) as http:
        headers = session(http, url, issuer.mint(url, ["things:read"]))
        refused = call(http, url, headers, "restart_thing")
        allowed = call(http, url, headers, "read_things")
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert 'scope="things:write"' in refused.headers["www-authenticate"]
    assert refused.json()["error"] == "insufficient_scope"
    assert allowed.status_code == 200
    assert RUNS == ["read"]


def test_the_write_tool_runs_with_its_scope(served: tuple[ServedApp, TestIssuer, str]) -> None:
    _, issuer, url = served
    RUNS.clear()
    with httpx.Client(timeout=10) as http:
        headers = session(http, url, issuer.mint(url, ["things:read", "things:write"]))
        response = call(http, url, headers, "restart_thing")
    assert response.status_code == 200
    assert "restarted" in response.text
    assert RUNS == ["restart"]
