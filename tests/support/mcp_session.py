"""MCP client helpers for tests: in-process sessions on the three MCP servers, a session over Streamable HTTP
with a token, and tool-call assertions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from common.mcp.backends import Backends
from common.mcp.tools import ToolSpec
from common.metrics import ServerMetrics
from common.settings import SettingsSource
from servers.controlplane_mcp.client import ControlPlaneClient
from servers.controlplane_mcp.server import create_server as create_controlplane_server
from servers.controlplane_mcp.server import tool_specs as controlplane_tool_specs
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings
from servers.loki_mcp.analyze import LogAnalyzer
from servers.loki_mcp.backends import open_backends as open_loki_backends
from servers.loki_mcp.models import PushStream
from servers.loki_mcp.server import create_server as create_loki_server
from servers.loki_mcp.server import tool_specs as loki_tool_specs
from servers.loki_mcp.settings import LokiMcpSettings
from servers.prometheus_mcp.server import create_server, open_backends
from servers.prometheus_mcp.server import tool_specs as prometheus_tool_specs
from servers.prometheus_mcp.settings import PrometheusMcpSettings


def prometheus_settings(url: str, **env: str) -> PrometheusMcpSettings:
    return PrometheusMcpSettings.from_source(SettingsSource({"PROMETHEUS_URL": url, **env}))


@asynccontextmanager
async def prometheus_session(url: str, **env: str) -> AsyncIterator[Client]:
    """An MCP client session on a prometheus-mcp for `url`; extra env keys set limits."""
    settings = prometheus_settings(url, **env)
    async with open_backends(settings) as backends, Client(create_server(settings, backends)) as client:
        yield client


@asynccontextmanager
async def loki_session(
    data_dir: Path, streams: tuple[PushStream, ...] = (), *, roots: tuple[Path, ...] = (), **env: str
) -> AsyncIterator[Client]:
    """An MCP client session on a loki-mcp over its embedded store in `data_dir`, holding `streams`
    (pushed through the store's Loki push API); `roots` are the directories loki_analyze_logs may read."""
    settings = LokiMcpSettings.from_source(SettingsSource({"SRE_DATA_DIR": str(data_dir), **env}))
    metrics = ServerMetrics("loki-mcp")
    analyzer = LogAnalyzer(roots, max_bytes=settings.limits.max_upload_bytes)
    async with open_loki_backends(settings, metrics) as backends:
        if streams:
            await backends.pick(None).push(streams)
        async with Client(create_loki_server(settings, backends, analyzer=analyzer)) as client:
            yield client


@asynccontextmanager
async def controlplane_session(**env: str) -> AsyncIterator[Client]:
    """An MCP client session on a controlplane-mcp configured by `env` (CONTROLPLANE_URL, its own token, ...)."""
    settings = ControlPlaneMcpSettings.from_source(SettingsSource(env))
    async with (
        aclosing(ControlPlaneClient(settings.backend, timeout=10.0)) as client,
        Client(create_controlplane_server(settings, client)) as session,
    ):
        yield session


@asynccontextmanager
async def token_session(mcp_url: str, token: str, **http: Any) -> AsyncIterator[Client]:
    """An MCP client session on a served MCP server over Streamable HTTP, sending `token` as its bearer;
    `http` are further options of the HTTP client (`timeout`, `trust_env`)."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, **http) as client_http,
        Client(streamable_http_client(mcp_url, http_client=client_http)) as client,
    ):
        yield client


def tool_specs() -> dict[str, list[ToolSpec]]:
    """Each MCP server's tools as configured by default, every group on (building them calls no backend)."""
    controlplane = ControlPlaneMcpSettings.from_source(SettingsSource({"CONTROLPLANE_MCP_BEARER_TOKEN": "t"}))
    loki = LokiMcpSettings.from_source(SettingsSource({}))
    return {
        "prometheus-mcp": prometheus_tool_specs(prometheus_settings("http://127.0.0.1:9"), Backends({})),
        "loki-mcp": loki_tool_specs(loki, Backends({}), LogAnalyzer((), max_bytes=1000)),
        "controlplane-mcp": controlplane_tool_specs(
            controlplane, ControlPlaneClient(controlplane.backend, timeout=1.0)
        ),
    }


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
