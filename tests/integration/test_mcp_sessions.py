"""An agent's MCP sessions outlive its investigations: a server's session is opened once and shared by later and
concurrent investigations, reopened when the server restarts (the call that met the restart is sent again), and a
server that is down is reported unavailable with the reason, then used again once it is back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from support.backends import PrometheusProcess
from support.identity_platform import Platform, tokens, wait_registered
from support.served import ServedComponent

from common.errors import BackendUnavailable
from common.mcp.session_pool import SESSIONS_PER_SERVER, SessionPool
from common.mcp.toolbox import Toolbox, pooled_toolbox

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SERVER = "prometheus-mcp"
#: The test's own prometheus-mcp, which it stops and starts.
OWN = "restarting-mcp"


@asynccontextmanager
async def session_pool(
    platform: Platform, url: str, *, server: str = SERVER, retry_after_seconds: float = 1.0
) -> AsyncIterator[SessionPool]:
    async with tokens(platform) as source, httpx.AsyncClient(timeout=10) as http:
        pool = SessionPool(
            tokens=source,
            http=http,
            registry_url="",
            urls={server: url},
            timeout_seconds=10,
            retry_after_seconds=retry_after_seconds,
        )
        try:
            yield pool
        finally:
            await pool.aclose()


async def vector(toolbox: Toolbox, value: int, server: str = SERVER) -> float:
    result = await toolbox.call(server, "prometheus_query", {"query": f"vector({value})"}, typed=True)
    return float(result["samples"][0]["value"])


def own_server(platform: Platform, prometheus: PrometheusProcess, log_dir: Path) -> ServedComponent:
    """A prometheus-mcp of the test's own (registered as OWN, so that the authorization server issues tokens for
    it, on a port it keeps), to stop and start."""
    env = {
        "PROMETHEUS_URL": prometheus.url,
        "SRE_AUTH_ISSUER": platform.registry.url,
        "SRE_NAME": OWN,
        "REGISTRY_URL": platform.registry.url,
        "SRE_CLIENT_ID": "prometheus-mcp",
        "SRE_CLIENT_SECRET": (platform.data_dir / "prometheus-mcp.secret").read_text(),
    }
    return ServedComponent("prometheus-mcp", env, log_dir)


async def started(platform: Platform, server: ServedComponent) -> None:
    if not server.running:
        server.start()
    await wait_registered(platform, OWN)


async def test_one_session_serves_later_and_concurrent_investigations(
    platform: Platform, prometheus_mcp: ServedComponent
) -> None:
    await wait_registered(platform, SERVER)
    async with session_pool(platform, prometheus_mcp.mcp_url) as pool:
        for value in (1, 2):
            async with pooled_toolbox([SERVER], pool) as toolbox:
                assert await vector(toolbox, value) == value
                assert toolbox.servers == [SERVER]
        answers: list[float] = []

        async def investigation(value: int) -> None:
            async with pooled_toolbox([SERVER], pool) as toolbox:
                answers.append(await vector(toolbox, value))

        for _ in range(2):
            async with anyio.create_task_group() as group:
                for value in range(10):
                    group.start_soon(investigation, value)

        assert sorted(answers) == sorted(float(v) for v in (*range(10), *range(10)))
        # The server's few sessions, opened once, not three per investigation.
        assert pool.sessions_opened <= SESSIONS_PER_SERVER


async def test_a_restarted_server_is_reconnected_and_the_call_that_met_the_restart_succeeds(
    platform: Platform, prometheus: PrometheusProcess, tmp_path: Path
) -> None:
    with own_server(platform, prometheus, tmp_path) as server:
        await started(platform, server)
        async with session_pool(platform, server.mcp_url, server=OWN) as pool:
            async with pooled_toolbox([OWN], pool) as toolbox:
                assert await vector(toolbox, 1, OWN) == 1.0
                server.stop()
                await started(platform, server)
                # The new process does not know the session (or there is none): the call is sent on a fresh one.
                assert await vector(toolbox, 2, OWN) == 2.0
            async with pooled_toolbox([OWN], pool) as toolbox:
                assert await vector(toolbox, 3, OWN) == 3.0
                assert toolbox.unavailable == {}


async def test_a_server_down_is_unavailable_with_the_reason_and_used_again_once_back(
    platform: Platform, prometheus: PrometheusProcess, tmp_path: Path
) -> None:
    with own_server(platform, prometheus, tmp_path) as server:
        await started(platform, server)
        async with session_pool(platform, server.mcp_url, server=OWN, retry_after_seconds=0.5) as pool:
            async with pooled_toolbox([OWN], pool) as toolbox:
                assert await vector(toolbox, 1, OWN) == 1.0
            server.stop()

            # An investigation while it is down: degraded, with the reason, not failed.
            async with pooled_toolbox([OWN], pool) as toolbox:
                with pytest.raises(BackendUnavailable, match=f"{OWN} is unavailable") as down:
                    await vector(toolbox, 2, OWN)
                assert "connect" in toolbox.unavailable[OWN].lower(), toolbox.unavailable
            assert down.value.kind == "backend_unavailable"
            # Right after, the dead server is not asked again: the back-off answers at once.
            async with pooled_toolbox([OWN], pool) as toolbox:
                assert OWN in toolbox.unavailable
                with pytest.raises(BackendUnavailable, match="tried again in"):
                    await vector(toolbox, 3, OWN)

            await started(platform, server)
            await anyio.sleep(1.0)  # past the back-off
            async with pooled_toolbox([OWN], pool) as toolbox:
                assert toolbox.unavailable == {}
                assert await vector(toolbox, 4, OWN) == 4.0
