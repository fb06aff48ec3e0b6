"""Append and read throughput of the embedded log store (`servers.loki_mcp.local.store`).

    .venv/bin/python bench/local_log_store.py                 # 200 000 entries, ~10 s
    .venv/bin/python bench/local_log_store.py --entries 1000000 --streams 24

Entries are 100-byte logfmt lines over `--streams` streams (labels job, level, pod), one per
millisecond, appended `--batch` at a time as a push would (each append is one transaction).
Rows:

    append        entries/s through `SqliteLogStore.append` (label checks, executemany, commit)
    read back     entries/s of `entries(..., direction="backward")` over every stream and the
                  whole window: what a `{job="bench"}` log query reads before its limit
    read 1 stream entries/s of the same over one stream (no sort: the primary key is in order)
    contains      entries/s scanned by a backward read with a `|=` filter matching 1 line in 100
    reopen        seconds to open the file again (the stream table is loaded into memory)
    logql ...     seconds per LogQL query through the store's Loki API (in process, over
                  httpx's ASGI transport: parsing, engine, JSON encoding), over the whole window

The file is on the temporary directory's disk, in WAL mode with synchronous=NORMAL.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from contextlib import aclosing
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from servers.loki_mcp.local.api import loki_api_routes
from servers.loki_mcp.local.store import SqliteLogStore
from servers.loki_mcp.models import Direction, PushEntry, PushStream

START_NS = 1_700_000_000_000_000_000
LEVELS = ("info", "info", "info", "warn", "error", "debug")


def batches(entries: int, streams: int, batch: int) -> list[list[PushStream]]:
    labels = [{"job": "bench", "level": LEVELS[i % len(LEVELS)], "pod": f"pod-{i}"} for i in range(streams)]
    out = []
    for first in range(0, entries, batch):
        rows: list[list[PushEntry]] = [[] for _ in range(streams)]
        for n in range(first, min(first + batch, entries)):
            marker = "needle" if n % 100 == 0 else "hay"
            line = f'level=info msg="request {n:09d} {marker}" path=/api/v1/items status=200 duration_ms={n % 997}'
            rows[n % streams].append(PushEntry(START_NS + n * 1_000_000, line.ljust(100, "x")[:100]))
        out.append([PushStream(labels[i], tuple(r)) for i, r in enumerate(rows) if r])
    return out


async def read_rate(
    store: SqliteLogStore, ids: list[int], direction: Direction, contains: tuple[str, ...] = ()
) -> tuple[float, int]:
    started = time.perf_counter()
    count = 0
    async with aclosing(store.entries(ids, 0, 2**63 - 1, direction=direction, contains=contains)) as entries:
        async for _ in entries:
            count += 1
    return time.perf_counter() - started, count


QUERIES = (
    ("log, limit 100", {"query": '{job="bench"}', "limit": "100"}),
    ("log, |= 1 in 100", {"query": '{job="bench"} |= "needle"', "limit": "100"}),
    ("log, | logfmt | filter", {"query": '{job="bench"} | logfmt | duration_ms > 995', "limit": "100"}),
    ("count by level", {"query": 'sum by (level) (count_over_time({job="bench"}[10s]))', "step": "10"}),
    ("rate |= needle", {"query": 'sum(rate({job="bench"} |= "needle" [10s]))', "step": "10"}),
)


async def logql(store: SqliteLogStore, entries: int) -> None:
    app = Starlette(routes=[Mount("/loki/api/v1", routes=loki_api_routes(store, max_push_bytes=1 << 20))])
    end_ns = START_NS + entries * 1_000_000 + 1
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
        for name, params in QUERIES:
            window = {"start": str(START_NS), "end": str(end_ns)}
            started = time.perf_counter()
            response = await http.get("/loki/api/v1/query_range", params={**params, **window})
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            print(f"logql {name:<24} {elapsed:8.3f} s")


def files_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.iterdir())


async def run(args: argparse.Namespace) -> None:
    work = batches(args.entries, args.streams, args.batch)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "logs.db"
        async with SqliteLogStore(path) as store:
            started = time.perf_counter()
            for streams in work:
                await store.append(streams)
            elapsed = time.perf_counter() - started
            print(f"append        {args.entries / elapsed:12,.0f} entries/s  ({elapsed:.2f} s, batch {args.batch})")
            ids = [info.id for info in await store.select_streams([], 0, 2**63 - 1)]
            elapsed, count = await read_rate(store, ids, "backward")
            print(f"read back     {count / elapsed:12,.0f} entries/s  ({count} entries, {len(ids)} streams)")
            elapsed, count = await read_rate(store, ids[:1], "backward")
            print(f"read 1 stream {count / elapsed:12,.0f} entries/s  ({count} entries)")
            elapsed, count = await read_rate(store, ids, "backward", ("needle",))
            print(f"contains      {args.entries / elapsed:12,.0f} entries/s scanned ({count} matched)")
            await logql(store, args.entries)
        size = await anyio.to_thread.run_sync(files_size, Path(directory))
        started = time.perf_counter()
        async with SqliteLogStore(path):
            reopen = time.perf_counter() - started
        print(f"reopen        {reopen:12.3f} s        (file {size / 1e6:.1f} MB, {size / args.entries:.0f} B/entry)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--streams", type=int, default=6)
    parser.add_argument("--batch", type=int, default=5000, help="entries per append (one push)")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {args.entries} entries of 100 bytes")
    anyio.run(run, args)


if __name__ == "__main__":
    main()
