"""Each MCP server answers with the result models of common/contracts/, the ones agents read results with.

The listing over a real MCP session must name exactly the contract's tools, each publishing the outline
of its contract's model; and each tool function must return that very model, so that a field changed
below the outline's first level (which the listing does not show) cannot drift either. The typed calls
agents make must send only arguments the tools accept.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import BaseModel
from support.mcp_session import controlplane_session, loki_session, prometheus_session, tool_specs

from common.contracts import controlplane, loki, prometheus
from common.contracts.calls import ToolContract
from common.contracts.results import BoundedResult
from common.errors import ToolCallError
from common.mcp.tool_schema import compact_schema, output_outline
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

#: Nothing listens here: calls reach the tool, then fail for want of a backend.
NOWHERE = "http://127.0.0.1:9"
CONTRACTS: dict[str, tuple[ToolContract[Any], ...]] = {
    prometheus.SERVER: prometheus.TOOLS,
    loki.SERVER: loki.TOOLS,
    controlplane.SERVER: controlplane.TOOLS,
}


def session(server: str, data_dir: Path) -> AbstractAsyncContextManager[Client]:
    if server == prometheus.SERVER:
        return prometheus_session(NOWHERE)
    if server == loki.SERVER:
        return loki_session(data_dir)
    return controlplane_session(CONTROLPLANE_URL=NOWHERE, CONTROLPLANE_MCP_BEARER_TOKEN="t")


def published(model: type[BaseModel]) -> dict[str, Any]:
    """The output schema a server publishes for `model`, as `common.mcp.tools.build_tools` outlines it."""
    return output_outline(compact_schema(model.model_json_schema()), conventional=BoundedResult.model_fields)


@pytest.mark.parametrize("server", list(CONTRACTS))
async def test_each_listed_tool_publishes_the_outline_of_its_contract_model(server: str, tmp_path: Path) -> None:
    async with session(server, tmp_path) as client:
        listed = {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}

    contracts = {contract.name: contract for contract in CONTRACTS[server]}
    assert set(listed) == set(contracts)
    for name, schema in listed.items():
        assert schema == published(contracts[name].result), name


def test_each_tool_function_returns_its_contract_model_itself() -> None:
    for server, specs in tool_specs().items():
        contracts = {contract.name: contract.result for contract in CONTRACTS[server]}
        returned = {spec.fn.__name__: inspect.signature(spec.fn, eval_str=True).return_annotation for spec in specs}
        assert returned == contracts, server


@asynccontextmanager
async def toolbox(server: str, data_dir: Path) -> AsyncIterator[Toolbox]:
    async with session(server, data_dir) as client:
        yield Toolbox({server: client}, {}, deadline_seconds=10.0)


async def refusal(call: Awaitable[object]) -> str | None:
    """How the server refused the call, or None when it answered it."""
    try:
        await call
    except ToolCallError as exc:
        return exc.kind
    return None


TypedCalls = Callable[[Toolbox], list[Awaitable[object]]]


def prometheus_calls(tools: Toolbox) -> list[Awaitable[object]]:
    typed = prometheus.PrometheusMcp(tools)
    window: dict[str, Any] = {"start": "now-1h", "end": "now"}
    return [
        typed.query_range("up", step="60s", detail="points", limit=5, **window),
        typed.list_labels("__name__", matchers={"service": "checkout"}, limit=5, **window),
        typed.find_anomalous_series(
            "up", matchers={"service": "checkout"}, step="60s", recent="15m", limit=5, **window
        ),
        typed.list_alerts(state="firing", matchers={"service": "checkout"}, limit=5),
    ]


def loki_calls(tools: Toolbox) -> list[Awaitable[object]]:
    typed = loki.LokiMcp(tools)
    return [
        typed.list_labels(),
        typed.list_labels("app", query='{namespace="prod"}', start="now-1h", end="now", limit=5),
        typed.error_patterns(
            '{service="checkout"}',
            start="now-10m",
            end="now",
            baseline_start="now-20m",
            baseline_end="now-10m",
            limit=5,
        ),
    ]


def controlplane_calls(tools: Toolbox) -> list[Awaitable[object]]:
    typed = controlplane.ControlplaneMcp(tools)
    return [
        typed.find_resource("checkout", namespace="prod", limit=5),
        typed.find_resource(label="app.kubernetes.io/name=checkout"),
        typed.list_changes("checkout", namespace="prod", start="now-1h", end="now", include_dependencies=True, limit=5),
        typed.record_analysis("diagnostic", title="checkout: no cause found", report={}, markdown="#", summary="s"),
    ]


@pytest.mark.parametrize(
    ("server", "calls"),
    [(prometheus.SERVER, prometheus_calls), (loki.SERVER, loki_calls), (controlplane.SERVER, controlplane_calls)],
)
async def test_the_typed_calls_send_only_arguments_the_tools_accept(
    server: str, calls: TypedCalls, tmp_path: Path
) -> None:
    async with toolbox(server, tmp_path) as tools:
        # No backend answers (or the embedded Loki holds nothing): the calls fail past the argument checks,
        # and an argument the tool's schema refuses would be the one `invalid_argument`.
        kinds = [await refusal(call) for call in calls(tools)]
    assert "invalid_argument" not in kinds, kinds
