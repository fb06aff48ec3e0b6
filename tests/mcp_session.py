"""MCP client helpers for tests: an in-process session on prometheus-mcp, and tool-call assertions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client

from common.settings import SettingsSource
from servers.prometheus_mcp.server import create_clients, create_server
from servers.prometheus_mcp.settings import PrometheusMcpSettings


def prometheus_settings(url: str, **env: str) -> PrometheusMcpSettings:
    return PrometheusMcpSettings.from_source(SettingsSource({"PROMETHEUS_URL": url, **env}))


@asynccontextmanager
async def prometheus_session(url: str, **env: str) -> AsyncIterator[Client]:
    """An MCP client session on a prometheus-mcp for `url`; extra env keys set limits."""
    settings = prometheus_settings(url, **env)
    clients = create_clients(settings)
    try:
        async with Client(create_server(settings, clients)) as client:
            yield client
    finally:
        for backend_client in clients.values():
            await backend_client.aclose()


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured result of a successful call (which must also carry a text rendering)."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.content
    assert result.content[0].type == "text"
    assert result.content[0].text
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """The text of a call that must fail as a tool error."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return "".join(getattr(block, "text", "") for block in result.content)
