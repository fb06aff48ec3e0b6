"""What a model pays for our tools: the characters of each MCP server's `tools/list` answer.

    .venv/bin/python bench/tools_list_size.py [--per-tool] [--operations]

Each server is built in-process, as the tests build it (no backend is called to list tools), and
listed through the MCP client. A tool's size is its JSON as sent on the wire (`by_alias`, no
nulls), split into the description, the input schema and the output schema (the rest is the name,
title and annotations). controlplane-mcp is listed with its curated tools and, with
`--operations`, also with the control plane's further OpenAPI operations (reference document,
client holding read and write, as in `make up`).

What the results of typical calls cost is `bench/result_size.py`'s.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.server.mcpserver import MCPServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.metrics import ServerMetrics  # noqa: E402
from common.settings import SettingsSource  # noqa: E402

#: The budget issue 12 sets for one server's listing with every tool group on.
BUDGET_CHARS = 10_000


@dataclass(frozen=True)
class ToolSize:
    name: str
    total: int
    description: int
    input_schema: int
    output_schema: int


def _chars(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False)) if value is not None else 0


def measure(listing: list[dict[str, Any]]) -> list[ToolSize]:
    """The sizes of each tool of a `tools/list` answer (tools as dumped `by_alias`, without nulls)."""
    return [
        ToolSize(
            name=tool["name"],
            total=_chars(tool),
            description=_chars(tool.get("description")),
            input_schema=_chars(tool.get("inputSchema")),
            output_schema=_chars(tool.get("outputSchema")),
        )
        for tool in listing
    ]


async def list_tools(server: MCPServer[Any]) -> list[dict[str, Any]]:
    async with Client(server) as client:
        result = await client.list_tools()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in result.tools]


@asynccontextmanager
async def prometheus_server(env: dict[str, str] | None = None) -> AsyncIterator[MCPServer[Any]]:
    from servers.prometheus_mcp.server import create_server, open_backends
    from servers.prometheus_mcp.settings import PrometheusMcpSettings

    settings = PrometheusMcpSettings.from_source(
        SettingsSource({"PROMETHEUS_URL": "http://127.0.0.1:9", **(env or {})})
    )
    async with open_backends(settings) as backends:
        yield create_server(settings, backends)


@asynccontextmanager
async def loki_server(env: dict[str, str] | None = None) -> AsyncIterator[MCPServer[Any]]:
    from servers.loki_mcp.analyze import LogAnalyzer
    from servers.loki_mcp.backends import open_backends
    from servers.loki_mcp.server import create_server
    from servers.loki_mcp.settings import LokiMcpSettings

    with tempfile.TemporaryDirectory() as data_dir:
        settings = LokiMcpSettings.from_source(SettingsSource({"SRE_DATA_DIR": data_dir, **(env or {})}))
        analyzer = LogAnalyzer((), max_bytes=settings.limits.max_upload_bytes)
        async with open_backends(settings, ServerMetrics("loki-mcp")) as backends:
            yield create_server(settings, backends, analyzer=analyzer)


@asynccontextmanager
async def controlplane_server(
    env: dict[str, str] | None = None, *, operations: bool = False
) -> AsyncIterator[MCPServer[Any]]:
    from controlplane.openapi import openapi_document
    from servers.controlplane_mcp.client import ControlPlaneClient
    from servers.controlplane_mcp.generic import GenericOperations
    from servers.controlplane_mcp.server import CURATED_OPERATIONS, create_server
    from servers.controlplane_mcp.settings import ControlPlaneMcpSettings

    settings = ControlPlaneMcpSettings.from_source(
        SettingsSource({"CONTROLPLANE_MCP_BEARER_TOKEN": "x", **(env or {})})
    )
    client = ControlPlaneClient(settings.backend, timeout=1.0, max_response_bytes=settings.limits.max_response_bytes)
    held = frozenset(settings.token_scopes)
    extra = (
        GenericOperations(client, read_only=settings.read_only)
        .tools(openapi_document(), exclude=CURATED_OPERATIONS, client_scopes=held)
        .tools
        if operations
        else []
    )
    try:
        yield create_server(settings, client, extra_tools=extra, client_scopes=held)
    finally:
        await client.aclose()


SERVERS: dict[str, Callable[..., Any]] = {
    "prometheus-mcp": prometheus_server,
    "loki-mcp": loki_server,
    "controlplane-mcp": controlplane_server,
}


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-tool", action="store_true", help="one line per tool")
    parser.add_argument("--operations", action="store_true", help="also controlplane-mcp with its OpenAPI operations")
    args = parser.parse_args(argv)
    # Only the figures: the servers' and HTTP clients' info lines would bury them.
    logging.disable(logging.INFO)
    runs: list[tuple[str, Callable[[], Any]]] = list(SERVERS.items())
    if args.operations:
        runs.append(("controlplane-mcp +operations", lambda: controlplane_server(operations=True)))
    print(f"{'server':<30} {'tools':>5} {'total':>7} {'descr':>7} {'input':>7} {'output':>7}  budget {BUDGET_CHARS}")
    for name, factory in runs:
        async with factory() as server:
            listing = await list_tools(server)
        sizes = measure(listing)
        total = _chars(listing)
        print(
            f"{name:<30} {len(sizes):>5} {total:>7} {sum(s.description for s in sizes):>7} "
            f"{sum(s.input_schema for s in sizes):>7} {sum(s.output_schema for s in sizes):>7}"
        )
        if args.per_tool:
            for s in sizes:
                print(f"  {s.name:<40} {s.total:>6} {s.description:>7} {s.input_schema:>7} {s.output_schema:>7}")


if __name__ == "__main__":
    anyio.run(main)
