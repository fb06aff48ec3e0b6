"""The MCP servers an investigation reads, and how its readers call them.

Readers call the tools through the typed calls of `common.contracts` and read the results with
their models. Every call goes through `noted`: a tool's failure (`BackendError`) is noted in the
`EvidenceLog` under the server it names, where it becomes the report's `degraded`, and the reader
gets None and goes on with the other sources. Readers issue one call per resource (or per
resource and signal) and run them through `for_each`, so a wide scope does not open dozens of
requests at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import anyio

from common.contracts import controlplane, loki, prometheus
from common.errors import BackendError
from common.investigation.evidence import EvidenceLog
from common.task_groups import task_group

__all__ = ["CONCURRENCY", "CONTROLPLANE", "LOKI", "PROMETHEUS", "for_each", "noted"]

PROMETHEUS = prometheus.SERVER
LOKI = loki.SERVER
CONTROLPLANE = controlplane.SERVER
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


async def noted(result: Awaitable[T], evidence: EvidenceLog, what: str) -> T | None:
    """The result of a typed tool call, or None with the failure noted as degrading the report."""
    try:
        return await result
    except BackendError as exc:
        # The toolbox and the typed calls name the MCP server as the error's backend.
        evidence.failed(exc.backend, what, exc)
        return None
