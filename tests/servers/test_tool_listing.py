"""What a model pays for each MCP server's tools: the size of `tools/list`, and the groups a user turns off."""

from __future__ import annotations

import json
import os
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import get_args

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from support.mcp_session import controlplane_session, loki_session, prometheus_session, tool_specs

from cli.main import main
from common.errors import ConfigError
from common.settings import SettingsSource
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings
from servers.controlplane_mcp.settings import ToolGroup as ControlPlaneGroup
from servers.loki_mcp.settings import ToolGroup as LokiGroup
from servers.prometheus_mcp.settings import PrometheusMcpSettings
from servers.prometheus_mcp.settings import ToolGroup as PrometheusGroup

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]

#: Issue 12's budget for one server's listing, every tool on: about 2,500 tokens.
BUDGET = 10_000


def controlplane(**env: str) -> AbstractAsyncContextManager[Client]:
    return controlplane_session(CONTROLPLANE_MCP_BEARER_TOKEN="t", **env)


async def listing(client: Client) -> tuple[int, set[str]]:
    """The characters of the tools as sent (JSON, no nulls) and their names."""
    tools = (await client.list_tools()).tools
    dumped = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]
    return len(json.dumps(dumped, separators=(",", ":"), ensure_ascii=False)), {tool.name for tool in tools}


async def test_prometheus_mcp_lists_its_nine_tools_within_the_budget() -> None:
    async with prometheus_session("http://127.0.0.1:9") as client:
        size, names = await listing(client)
        instructions = client.instructions or ""
    assert len(names) == 9
    assert size < BUDGET
    # What the schemas no longer repeat in every tool, the instructions say once.
    for said in ("`backend`", "next_cursor", "`cursor`", "limits_applied", "truncated", "RFC 3339"):
        assert said in instructions, said


async def test_loki_mcp_lists_its_seven_tools_within_the_budget(tmp_path: Path) -> None:
    async with loki_session(tmp_path) as client:
        size, names = await listing(client)
    assert len(names) == 7
    assert size < BUDGET


async def test_controlplane_mcp_lists_its_curated_tools_within_the_budget() -> None:
    async with controlplane() as client:
        size, names = await listing(client)
    assert len(names) == 14
    assert size < BUDGET


def test_controlplane_mcp_offers_the_openapi_operations_only_when_asked() -> None:
    default = ControlPlaneMcpSettings.from_source(SettingsSource({}))
    asked = ControlPlaneMcpSettings.from_source(SettingsSource({"CONTROLPLANE_MCP_OPERATIONS": "true"}))
    assert (default.operations, asked.operations) == (False, True)


async def test_disabled_groups_are_not_listed_and_their_tools_cannot_be_called() -> None:
    async with prometheus_session("http://127.0.0.1:9", PROMETHEUS_MCP_DISABLED_GROUPS="analysis alerts") as client:
        _, names = await listing(client)
        with pytest.raises(MCPError) as refused:
            await client.call_tool("prometheus_list_alerts", {})
    assert refused.value.error.code == -32602
    assert names == {
        "prometheus_query",
        "prometheus_query_range",
        "prometheus_list_labels",
        "prometheus_find_series",
        "prometheus_get_metric_metadata",
        "prometheus_list_targets",
    }


async def test_each_server_names_its_groups(tmp_path: Path) -> None:
    async with loki_session(tmp_path, LOKI_MCP_DISABLED_GROUPS="patterns,analysis") as client:
        _, loki = await listing(client)
    async with controlplane(CONTROLPLANE_MCP_DISABLED_GROUPS="actions incidents") as client:
        _, cp = await listing(client)
    assert loki == {"loki_query_logs", "loki_query_metrics", "loki_list_labels", "loki_find_streams"}
    assert cp == {
        "controlplane_find_resource",
        "controlplane_list_changes",
        "controlplane_deployment_history",
        "controlplane_list_alert_rules",
        "controlplane_list_automation_executions",
    }


def test_an_unknown_group_is_refused_naming_the_setting_and_the_groups() -> None:
    with pytest.raises(ConfigError) as refused:
        PrometheusMcpSettings.from_source(SettingsSource({"PROMETHEUS_MCP_DISABLED_GROUPS": "query labels"}))
    assert "PROMETHEUS_MCP_DISABLED_GROUPS" in str(refused.value)
    assert "'metadata'" in str(refused.value)


async def test_sre_stdio_disable_leaves_out_the_named_groups(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKI")}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli.main", "stdio", "loki-mcp", "--disable", "patterns", "--disable", "analysis"],
        env={**env, "SRE_DATA_DIR": str(tmp_path)},
        cwd=str(ROOT),
    )
    async with Client(params) as client:
        _, names = await listing(client)
    assert names == {"loki_query_logs", "loki_query_metrics", "loki_list_labels", "loki_find_streams"}


def test_sre_serve_disable_is_refused_for_a_component_without_tool_groups(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "registry", "--disable", "query"]) == 2
    assert "--disable applies to the MCP servers only" in capsys.readouterr().err


def test_every_tool_belongs_to_a_group_its_setting_names() -> None:
    groups = {"prometheus-mcp": PrometheusGroup, "loki-mcp": LokiGroup, "controlplane-mcp": ControlPlaneGroup}
    for server, specs in tool_specs().items():
        assert {spec.group for spec in specs} == set(get_args(groups[server])), server
