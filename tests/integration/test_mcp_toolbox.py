"""An agent's toolbox: servers found in a real registry, called with the agent's own tokens; a missing
server is reported unavailable, not fatal, and so is one that dies while the toolbox is open (its later
calls try to reconnect, and say why they could not); tool errors and unknown tools are ToolCallErrors
saying so and naming their kind."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from google.adk.runners import InMemoryRunner
from google.genai import types as genai
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from support.asgi_server import ServedApp
from support.backends import PrometheusProcess
from support.eventually import eventually
from support.identity_platform import Platform, tokens, wait_registered
from support.served import ServedComponent

from agents.triage.agent import TriageAgent
from common.agents.executor import INVALID_REQUEST
from common.errors import BackendUnavailable, InputError, ToolCallError
from common.investigation.evidence import EvidenceLog
from common.investigation.sources import noted
from common.mcp.toolbox import Toolbox, mcp_toolbox
from common.settings import SettingsSource

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


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
        with pytest.raises(ToolCallError, match="prometheus_query failed") as failed:
            await toolbox.call("prometheus-mcp", "prometheus_query", {"query": "sum("})
        assert failed.value.kind == "invalid_argument"
        with pytest.raises(ToolCallError, match="prometheus_query failed") as failed:
            await toolbox.call("prometheus-mcp", "prometheus_query", {"query": "x" * 5000})
        assert failed.value.kind == "limit"
        with pytest.raises(ToolCallError, match="refused no_such_tool") as refused:
            await toolbox.call("prometheus-mcp", "no_such_tool", {})
        assert refused.value.kind == "invalid_argument"


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


def unanswering_prometheus(asked: threading.Event) -> Starlette:
    """A Prometheus that takes every query and answers none before its caller goes away, so that a tool
    call stays in flight."""

    async def hang(request: Request) -> Response:
        asked.set()
        while not await request.is_disconnected():
            await anyio.sleep(0.1)
        return Response(status_code=504)

    return Starlette(routes=[Route("/{path:path}", hang, methods=["GET", "POST"])])


def doomed_server(platform: Platform, prometheus_url: str, log_dir: Path) -> ServedComponent:
    """A prometheus-mcp of the test's own, registered as doomed-mcp (so that the authorization server
    issues tokens for it), for the test to kill."""
    env = {
        "PROMETHEUS_URL": prometheus_url,
        "SRE_AUTH_ISSUER": platform.registry.url,
        "SRE_NAME": "doomed-mcp",
        "REGISTRY_URL": platform.registry.url,
        "SRE_CLIENT_ID": "prometheus-mcp",
        "SRE_CLIENT_SECRET": (platform.data_dir / "prometheus-mcp.secret").read_text(),
    }
    return ServedComponent("prometheus-mcp", env, log_dir)


@asynccontextmanager
async def toolbox_on(
    platform: Platform, prometheus_mcp: ServedComponent, doomed: ServedComponent
) -> AsyncIterator[Toolbox]:
    await wait_registered(platform, "doomed-mcp")
    async with (
        tokens(platform) as source,
        httpx.AsyncClient(timeout=10) as http,
        mcp_toolbox(
            ["prometheus-mcp", "doomed-mcp"],
            tokens=source,
            http=http,
            registry_url="",
            urls={"prometheus-mcp": prometheus_mcp.mcp_url, "doomed-mcp": doomed.mcp_url},
        ) as toolbox,
    ):
        assert toolbox.servers == ["doomed-mcp", "prometheus-mcp"]
        yield toolbox


async def assert_only_the_dead_server_is_unavailable(toolbox: Toolbox) -> None:
    result = await toolbox.call("prometheus-mcp", "prometheus_query", {"query": "vector(5)"})
    assert float(result["samples"][0]["value"]) == 5.0
    with pytest.raises(BackendUnavailable, match="doomed-mcp is unavailable") as later:
        await toolbox.call("doomed-mcp", "prometheus_query", {"query": "up"})
    assert later.value.kind == "backend_unavailable"

    # The call asked for a fresh session (the last one ended with its server), which the dead server cannot give:
    # it is unavailable, saying why.
    assert "All connection attempts failed" in toolbox.unavailable["doomed-mcp"]
    assert toolbox.servers == ["prometheus-mcp"]
    # An investigation's reader notes the failure, which its report lists as degraded.
    evidence = EvidenceLog()
    assert await noted(toolbox.call("doomed-mcp", "prometheus_query", {"query": "up"}), evidence, "up") is None
    assert [failure.source for failure in evidence.degraded()] == ["doomed-mcp"]


async def test_a_server_killed_during_a_call_fails_that_call_as_unavailable_and_the_others_go_on(
    platform: Platform, prometheus_mcp: ServedComponent, tmp_path: Path
) -> None:
    asked = threading.Event()
    with (
        ServedApp(unanswering_prometheus(asked)) as backend,
        doomed_server(platform, backend.url, tmp_path) as doomed,
    ):
        async with toolbox_on(platform, prometheus_mcp, doomed) as toolbox:
            in_flight: list[BaseException] = []

            async def call_the_doomed_server() -> None:
                try:
                    await toolbox.call("doomed-mcp", "prometheus_query", {"query": "up"})
                except BackendUnavailable as exc:
                    in_flight.append(exc)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as group:
                    group.start_soon(call_the_doomed_server)
                    assert await anyio.to_thread.run_sync(asked.wait, 10), "the call never reached the backend"
                    os.kill(doomed.pid, signal.SIGKILL)
            # The call in flight when its server died failed as unavailable, instead of waiting for its deadline.
            (failed,) = in_flight
            assert "doomed-mcp is unavailable" in str(failed)
            # The block goes on (and leaving the toolbox raises nothing).
            await assert_only_the_dead_server_is_unavailable(toolbox)


async def test_a_server_killed_between_calls_is_unavailable_and_the_others_go_on(
    platform: Platform, prometheus_mcp: ServedComponent, prometheus: PrometheusProcess, tmp_path: Path
) -> None:
    with doomed_server(platform, prometheus.url, tmp_path) as doomed:
        async with toolbox_on(platform, prometheus_mcp, doomed) as toolbox:
            result = await toolbox.call("doomed-mcp", "prometheus_query", {"query": "vector(3)"})
            assert float(result["samples"][0]["value"]) == 3.0
            os.kill(doomed.pid, signal.SIGKILL)
            eventually(lambda: not doomed.running, timeout=10, what="doomed-mcp to die")
            await assert_only_the_dead_server_is_unavailable(toolbox)


async def test_an_error_raised_while_sessions_are_open_leaves_the_toolbox_as_raised(
    platform: Platform, prometheus_mcp: ServedComponent
) -> None:
    # Each session runs a task group, which would wrap the caller's error in an ExceptionGroup.
    opened: list[str] = []

    async def refuse_inside() -> None:
        async with (
            tokens(platform) as source,
            httpx.AsyncClient(timeout=10) as http,
            mcp_toolbox(
                ["prometheus-mcp"],
                tokens=source,
                http=http,
                registry_url="",
                urls={"prometheus-mcp": prometheus_mcp.mcp_url},
            ) as toolbox,
        ):
            opened.extend(toolbox.servers)
            raise InputError("The question names no service: name the service.")

    with pytest.raises(InputError, match="name the service"):
        await refuse_inside()
    assert opened == ["prometheus-mcp"]


async def test_triage_refuses_a_question_it_cannot_place_instead_of_failing(
    platform: Platform, prometheus_mcp: ServedComponent, tmp_path: Path
) -> None:
    credentials = platform.credentials()
    agent = TriageAgent.from_source(
        SettingsSource(
            {
                "SRE_DATA_DIR": str(tmp_path),
                "REGISTRY_URL": platform.registry.url,
                "SRE_CLIENT_ID": credentials.client_id,
                "SRE_CLIENT_SECRET": credentials.client_secret.get_secret_value(),
                # A live session (its task group open) and no control plane to look the words up in.
                "TRIAGE_PROMETHEUS_MCP_URL": prometheus_mcp.mcp_url,
                "TRIAGE_CONTROLPLANE_MCP_URL": "http://127.0.0.1:9/mcp",
            }
        )
    )
    runner = InMemoryRunner(agent=agent, app_name="triage")
    session = await runner.session_service.create_session(app_name="triage", user_id="oncall")
    question = genai.Content(role="user", parts=[genai.Part(text="why is the zzz thing slow?")])

    events = [e async for e in runner.run_async(user_id="oncall", session_id=session.id, new_message=question)]

    (refusal,) = [event for event in events if event.error_code]
    assert refusal.error_code == INVALID_REQUEST
    assert "control plane" in (refusal.error_message or "")
