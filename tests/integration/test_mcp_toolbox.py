"""An agent's toolbox: servers found in a real registry, called with the agent's own tokens; a missing
server is reported unavailable, not fatal; tool errors and unknown tools are BackendErrors saying so."""

from __future__ import annotations

import anyio
import httpx
import pytest
from identity_platform import Platform, tokens
from served import ServedComponent

from common.errors import BackendFailed, BackendUnavailable
from common.mcp_toolbox import mcp_toolbox

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def wait_registered(platform: Platform, name: str) -> None:
    async with tokens(platform) as source, httpx.AsyncClient(timeout=10) as http:
        with anyio.fail_after(30):
            while (
                await http.get(
                    f"{platform.registry.url}/servers/{name}", auth=source.bearer_auth(platform.registry.url)
                )
            ).status_code != 200:
                await anyio.sleep(0.2)


async def test_calls_go_to_registered_servers_with_the_agents_own_token(
    platform: Platform, prometheus_mcp: ServedComponent
) -> None:
    await wait_registered(platform, "prometheus-mcp")
    async with (
        tokens(platform) as source,
        httpx.AsyncClient(timeout=10) as http,
        mcp_toolbox(
            ["prometheus-mcp", "loki-mcp"], tokens=source, http=http, registry_url=platform.registry.url
        ) as toolbox,
    ):
        async with anyio.create_task_group() as group:
            answers: list[float] = []

            async def query(expr: str) -> None:
                result = await toolbox.call("prometheus-mcp", "prometheus_query", {"query": expr})
                answers.append(float(result["samples"][0]["value"]))

            for value in (1, 2, 3):
                group.start_soon(query, f"vector({value})")
        assert sorted(answers) == [1.0, 2.0, 3.0]
        assert toolbox.servers == ["prometheus-mcp"]
        assert "not registered" in toolbox.unavailable["loki-mcp"]
        with pytest.raises(BackendUnavailable, match="loki-mcp is unavailable"):
            await toolbox.call("loki-mcp", "loki_query_logs", {"query": '{job="x"}'})
        with pytest.raises(BackendFailed, match="prometheus_query failed"):
            await toolbox.call("prometheus-mcp", "prometheus_query", {"query": "sum("})
        with pytest.raises(BackendFailed, match="refused no_such_tool"):
            await toolbox.call("prometheus-mcp", "no_such_tool", {})


async def test_a_url_given_directly_needs_no_registry_entry(
    platform: Platform, prometheus_mcp: ServedComponent
) -> None:
    async with (
        tokens(platform) as source,
        httpx.AsyncClient(timeout=10) as http,
        mcp_toolbox(
            ["prometheus-mcp"],
            tokens=source,
            http=http,
            registry_url="http://127.0.0.1:9",  # nothing there: the URL below is used instead
            urls={"prometheus-mcp": prometheus_mcp.mcp_url},
        ) as toolbox,
    ):
        result = await toolbox.call("prometheus-mcp", "prometheus_query", {"query": "vector(7)"})
    assert float(result["samples"][0]["value"]) == 7.0
