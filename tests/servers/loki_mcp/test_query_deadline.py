"""A query of the embedded store that runs past its deadline is stopped with a clear 504 (checklist row 40).

The store here never runs out of matching entries, so without a deadline the query would run for
ever; the test's own `fail_after` turns that into a failure rather than a hang.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

import anyio
import anyio.lowlevel
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from servers.loki_mcp.local.api import loki_api_routes
from servers.loki_mcp.local.records import Matcher, StoredEntry, StreamInfo
from servers.loki_mcp.models import Direction, PushStream

pytestmark = pytest.mark.anyio

API = "/loki/api/v1"
TIMEOUT = 0.3


class EndlessStore:
    """A `LogStore` with one stream whose entries never end."""

    async def append(self, streams: Sequence[PushStream]) -> int:
        return 0

    async def select_streams(self, matchers: Sequence[Matcher], start_ns: int, end_ns: int) -> list[StreamInfo]:
        return [StreamInfo(1, {"service": "endless"})]

    async def entries(
        self,
        stream_ids: Sequence[int],
        start_ns: int,
        end_ns: int,
        *,
        direction: Direction,
        contains: Sequence[str] = (),
    ) -> AsyncIterator[tuple[int, StoredEntry]]:
        n = 0
        while True:
            n += 1
            if n % 50_000 == 0:
                # A rare checkpoint, so that a query evaluated on the event loop fails the test's
                # own deadline instead of hanging it.
                await anyio.lowlevel.checkpoint()
            yield 1, StoredEntry(start_ns + n % max(1, end_ns - start_ns), f"line {n} level=info")

    async def stats(self, stream_ids: Sequence[int], start_ns: int, end_ns: int) -> tuple[int, int]:
        return 0, 0

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    "query",
    [
        '{service="endless"} |~ "never matches (x+)+y"',
        'sum by (level) (count_over_time({service="endless"} | logfmt [5m]))',
    ],
    ids=["log-query", "metric-query"],
)
async def test_a_query_running_past_the_deadline_is_a_504_saying_how_to_narrow_it(query: str) -> None:
    app = Starlette(
        routes=[Mount(API, routes=loki_api_routes(EndlessStore(), max_push_bytes=1000, query_timeout=TIMEOUT))]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as client:
        started = time.monotonic()
        with anyio.fail_after(20):
            response = await client.get(f"{API}/query_range", params={"query": query, "limit": "5000"})
        elapsed = time.monotonic() - started

    assert response.status_code == 504, response.text
    assert "query timed out" in response.text
    assert "LOKI_MCP_LOCAL_QUERY_TIMEOUT_SECONDS" in response.text
    assert elapsed < TIMEOUT + 5


async def ticks_while(path: str, params: dict[str, str]) -> tuple[httpx.Response, int]:
    """The answer to GET `path` (a 2 s deadline) and how often a 10 ms timer ticked meanwhile."""
    app = Starlette(routes=[Mount(API, routes=loki_api_routes(EndlessStore(), max_push_bytes=1000, query_timeout=2))])
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as client,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(tick)
        with anyio.fail_after(20):
            response = await client.get(f"{API}/{path}", params=params)
        tasks.cancel_scope.cancel()
    return response, ticks


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("query_range", {"query": '{service="endless"} | logfmt | level="error"', "limit": "5000"}),
        ("patterns", {"query": '{service="endless"}'}),
    ],
    ids=["log-query", "patterns"],
)
async def test_the_event_loop_keeps_running_while_a_query_evaluates(path: str, params: dict[str, str]) -> None:
    response, ticks = await ticks_while(path, params)

    assert response.status_code == 504, response.text
    # Two seconds of evaluation: a loop held by the query would tick a handful of times at most.
    assert ticks > 50
