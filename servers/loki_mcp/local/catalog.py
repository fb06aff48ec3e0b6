"""What the store holds, without reading lines: label names and values, series, index statistics.

These answer from the streams a selector picks in the window (and, for statistics and volume,
the store's entry counts). Loki's `/index/stats` counts chunks and their block-rounded sizes; here
`chunks` is the number of streams with entries and `bytes` the bytes of their lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from servers.loki_mcp.local.engine import format_value, stream_key
from servers.loki_mcp.local.records import LogStore, Matcher, StreamInfo

__all__ = ["index_stats", "index_volume", "label_names", "label_values", "series"]


async def _streams(
    store: LogStore, selectors: Sequence[Sequence[Matcher]], start_ns: int, end_ns: int
) -> list[StreamInfo]:
    if not selectors:
        return await store.select_streams((), start_ns, end_ns)
    found: dict[int, StreamInfo] = {}
    for matchers in selectors:
        found.update((s.id, s) for s in await store.select_streams(matchers, start_ns, end_ns))
    return list(found.values())


async def label_names(store: LogStore, selector: Sequence[Matcher] | None, start_ns: int, end_ns: int) -> list[str]:
    streams = await _streams(store, [selector] if selector is not None else [], start_ns, end_ns)
    return sorted({name for s in streams for name in s.labels})


async def label_values(
    store: LogStore, name: str, selector: Sequence[Matcher] | None, start_ns: int, end_ns: int
) -> list[str]:
    streams = await _streams(store, [selector] if selector is not None else [], start_ns, end_ns)
    return sorted({s.labels[name] for s in streams if s.labels.get(name)})


async def series(
    store: LogStore, selectors: Sequence[Sequence[Matcher]], start_ns: int, end_ns: int
) -> list[dict[str, str]]:
    streams = await _streams(store, selectors, start_ns, end_ns)
    return [dict(stream_key(s.labels)) for s in sorted(streams, key=lambda s: stream_key(s.labels))]


async def index_stats(store: LogStore, selector: Sequence[Matcher], start_ns: int, end_ns: int) -> dict[str, int]:
    streams = await store.select_streams(selector, start_ns, end_ns)
    entries, size = await store.stats([s.id for s in streams], start_ns, end_ns)
    return {"streams": len(streams), "chunks": len(streams) if entries else 0, "bytes": size, "entries": entries}


async def index_volume(
    store: LogStore,
    selector: Sequence[Matcher],
    start_ns: int,
    end_ns: int,
    *,
    limit: int,
    target_labels: Sequence[str] = (),
) -> dict[str, object]:
    """Bytes per group of streams, grouped by `target_labels` or else by the selector's label names."""
    names = tuple(target_labels) or tuple(dict.fromkeys(m.name for m in selector))
    groups: dict[tuple[tuple[str, str], ...], list[int]] = defaultdict(list)
    for stream in await store.select_streams(selector, start_ns, end_ns):
        groups[_project(stream.labels, names)].append(stream.id)
    volumes = []
    for key, ids in groups.items():
        _, size = await store.stats(ids, start_ns, end_ns)
        volumes.append((size, key))
    volumes.sort(key=lambda pair: (-pair[0], pair[1]))
    # Loki stamps the vector with the end of the window, rounded to the millisecond.
    at = round(end_ns / 1e6) / 1e3
    result = [{"metric": dict(key), "value": [at, format_value(size)]} for size, key in volumes[:limit]]
    return {"resultType": "vector", "result": result, "stats": {"summary": {}}}


def _project(labels: Mapping[str, str], names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, labels[name]) for name in names if labels.get(name)))
