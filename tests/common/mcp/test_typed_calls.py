"""A typed call (`common.contracts`) is checked once, by its result model: the MCP SDK's own check against the
tool's JSON schema, and the tool listing it needs, are skipped; an untyped call keeps them. A server whose answer
breaks the contract is a `BackendFailed` naming the server and the tool, not a crash."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from common.contracts.prometheus import PrometheusMcp
from common.errors import BackendFailed
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio


class Labels(BaseModel):
    values: list[str]


class CountingServer(MCPServer):
    """A stand-in prometheus-mcp counting the tool listings it was asked for."""

    listings = 0

    async def list_tools(self) -> list[Any]:
        self.listings += 1
        return await super().list_tools()


def stand_in() -> CountingServer:
    server = CountingServer("stand-in")

    @server.tool()
    def prometheus_query_range(query: str, start: str = "", end: str = "", step: str = "") -> dict[str, Any]:
        # Not a range result: `series` must be a list of series.
        return {"backend": "p", "query": query, "series": "none", "returned": 0, "total": 0, "truncated": False}

    @server.tool()
    def prometheus_label_values(label: str) -> Labels:
        return Labels(values=["a", "b"])

    return server


async def test_a_typed_call_that_breaks_its_contract_fails_naming_the_tool_and_lists_no_tools() -> None:
    server = stand_in()
    async with Client(server) as client:
        toolbox = Toolbox({"prometheus-mcp": client}, {}, deadline_seconds=10)

        with pytest.raises(BackendFailed) as failed:
            await PrometheusMcp(toolbox).query_range("up", start="now-1h")

        assert "prometheus-mcp.prometheus_query_range answered a result that does not fit its contract" in str(
            failed.value
        )
        assert failed.value.backend == "prometheus-mcp"
        # The SDK's schema check would have listed the tools first: the typed call skipped it.
        assert server.listings == 0


async def test_an_untyped_call_keeps_the_sdks_schema_check() -> None:
    server = stand_in()
    async with Client(server) as client:
        toolbox = Toolbox({"prometheus-mcp": client}, {}, deadline_seconds=10)

        assert await toolbox.call("prometheus-mcp", "prometheus_label_values", {"label": "job"}) == {
            "values": ["a", "b"]
        }
        assert server.listings == 1
        assert await toolbox.call("prometheus-mcp", "prometheus_label_values", {"label": "job"}, typed=True) == {
            "values": ["a", "b"]
        }
        assert server.listings == 1
