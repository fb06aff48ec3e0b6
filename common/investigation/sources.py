"""The MCP servers an investigation reads, and how its readers call them.

Every reader goes through `call`: a tool's failure (`BackendError`) is noted in the
`EvidenceLog`, where it becomes the report's `degraded`, and the reader gets None and goes on
with the other sources. Readers issue one call per resource (or per resource and signal) and run
them through `for_each`, so a wide scope does not open dozens of requests at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import anyio

from common.errors import BackendError
from common.investigation.evidence import EvidenceLog
from common.mcp.toolbox import Toolbox
from common.task_groups import task_group

__all__ = ["CONCURRENCY", "CONTROLPLANE", "LOKI", "PROMETHEUS", "call", "for_each"]

PROMETHEUS = "prometheus-mcp"
LOKI = "loki-mcp"
CONTROLPLANE = "controlplane-mcp"
#: Calls in flight at once on one server.
CONCURRENCY = 8
T = TypeVar("T")


async def for_each(items: Iterable[T], read: Callable[[T], Awaitable[None]]) -> None:
    """`read(item)` for every item, at most CONCURRENCY at a time; returns when all are done."""
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def run(item: T) -> None:
        async with limiter:
            await read(item)

    async with task_group() as group:
        for item in items:
            group.start_soon(run, item)


async def call(
    toolbox: Toolbox, server: str, tool: str, arguments: dict[str, Any], evidence: EvidenceLog, what: str
) -> dict[str, Any] | None:
    """The tool's result, or None with the failure noted as degrading the report."""
    try:
        return await toolbox.call(server, tool, arguments)
    except BackendError as exc:
        evidence.failed(server, what, exc)
        return None
