"""LogQL evaluation over a `LogStore`, answering in Loki's JSON shapes (the `data` of a response).

Log queries read entries in the query's direction, run the pipeline and stop at `limit`. As in
Loki, an entry's structured metadata and parsed labels join its stream's labels, so the answer
groups entries by that final label set; with `categorize_labels` the stream keeps its own labels
and each entry carries `{"structuredMetadata": ..., "parsed": ...}` as a third element.

Metric queries evaluate at steps t = start, start+step, ... and a range aggregation at t covers
(t - range, t]. Entries are read once, oldest first: each adds to a per-series difference array
at the first and past the last step whose window holds it, and one sweep per series gives every
step's value. A series has no point at a step whose window holds none of its entries.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

import anyio.to_thread

from common.errors import InputError
from servers.loki_mcp.local.pipeline import ERROR_DETAILS_LABEL, ERROR_LABEL, Pipeline
from servers.loki_mcp.local.records import LogStore, StoredEntry
from servers.loki_mcp.logql import Grouping, LineFilter, LogQuery, MetricExpr, RangeAggregation, VectorAggregation
from servers.loki_mcp.models import CATEGORIZE_LABELS, Direction

__all__ = [
    "CHUNK_ENTRIES",
    "LabelKey",
    "Steps",
    "evaluate_metric",
    "format_value",
    "labels_text",
    "query_logs",
    "seconds",
    "stream_key",
]

CHUNK_ENTRIES = 1000
"""Entries a query runs through its pipeline per trip to a worker thread."""

LabelKey = tuple[tuple[str, str], ...]
"""A label set as sorted (name, value) pairs: hashable, and ordered as Prometheus orders label sets."""
Series = dict[LabelKey, dict[int, float]]
EMPTY: Mapping[str, str] = MappingProxyType({})
"""Series by label set, each a value per step index."""


def stream_key(labels: Mapping[str, str]) -> LabelKey:
    return tuple(sorted((name, value) for name, value in labels.items() if value))


def labels_text(key: LabelKey) -> str:
    """Loki's text of a label set (`{a="1", b="2"}`), by which it orders the streams of an answer."""
    return "{" + ", ".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in key) + "}"


def format_value(value: float) -> str:
    """A sample value as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it, as Loki does."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    return text.removesuffix(".0") if text.endswith(".0") else text


def seconds(ts_ns: int) -> float | int:
    """A metric timestamp: Unix seconds at millisecond precision, whole seconds written as integers."""
    ms = ts_ns // 1_000_000
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


async def _closing(entries: AsyncIterator[tuple[int, StoredEntry]]) -> None:
    close = getattr(entries, "aclose", None)
    if close is not None:
        await close()


async def entry_chunks(entries: AsyncIterator[tuple[int, StoredEntry]]) -> AsyncIterator[list[tuple[int, StoredEntry]]]:
    """`entries` in lists of up to `CHUNK_ENTRIES`, each to be run through the pipeline on a worker thread.

    The pipeline (regular expressions, JSON and logfmt parsing) is the CPU-bound part of a query:
    on a worker thread the event loop keeps answering health checks, pushes and other calls, and
    a deadline around the query (`anyio.fail_after`) stops it between two chunks.
    """
    chunk: list[tuple[int, StoredEntry]] = []
    async for item in entries:
        chunk.append(item)
        if len(chunk) >= CHUNK_ENTRIES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def query_logs(
    store: LogStore,
    query: LogQuery,
    *,
    start_ns: int,
    end_ns: int,
    limit: int,
    direction: Direction,
    categorize_labels: bool = False,
) -> dict[str, object]:
    """The `data` of a log query over [start_ns, end_ns)."""
    streams = {s.id: s.labels for s in await store.select_streams(query.matchers, start_ns, end_ns)}
    pipeline = Pipeline(query.pipeline)
    grouped: dict[LabelKey, list[list[object]]] = defaultdict(list)
    returned = 0

    def run(chunk: list[tuple[int, StoredEntry]]) -> list[tuple[LabelKey, list[object]]]:
        kept: list[tuple[LabelKey, list[object]]] = []
        for stream_id, entry in chunk:
            stream_labels = streams[stream_id]
            base = {**stream_labels, **entry.structured_metadata}
            parsed = pipeline.run(entry.line, base)
            if parsed is None:
                continue
            if categorize_labels:
                kept.append((stream_key(stream_labels), _categorized(entry, parsed)))
            else:
                kept.append((stream_key({**base, **parsed}), [str(entry.timestamp_ns), entry.line]))
        return kept

    if streams and limit > 0:
        entries = store.entries(list(streams), start_ns, end_ns, direction=direction, contains=pipeline.contains)
        try:
            async for chunk in entry_chunks(entries):
                for key, value in (await anyio.to_thread.run_sync(run, chunk))[: limit - returned]:
                    grouped[key].append(value)
                    returned += 1
                if returned >= limit:
                    break
        finally:
            await _closing(entries)
    result = [{"stream": dict(key), "values": grouped[key]} for key in sorted(grouped, key=labels_text)]
    data: dict[str, object] = {"resultType": "streams"}
    if categorize_labels:
        data["encodingFlags"] = [CATEGORIZE_LABELS]
    return data | {"result": result, "stats": _stats(returned)}


def _categorized(entry: StoredEntry, parsed: Mapping[str, str]) -> list[object]:
    categories = {
        name: dict(sorted(values.items()))
        for name, values in (("structuredMetadata", entry.structured_metadata), ("parsed", parsed))
        if values
    }
    value: list[object] = [str(entry.timestamp_ns), entry.line]
    return [*value, categories] if categories else value


def _stats(returned: int) -> dict[str, object]:
    # Loki's statistics describe its chunks, caches and queriers; only the summary's shape is kept.
    return {"summary": {"totalEntriesReturned": returned, "splits": 0, "shards": 0}}


@dataclass(frozen=True)
class Steps:
    """The evaluation times of a metric query: `count` steps from `start_ns`, `step_ns` apart."""

    start_ns: int
    step_ns: int
    count: int

    def at(self, index: int) -> int:
        return self.start_ns + index * self.step_ns

    @property
    def end_ns(self) -> int:
        return self.at(self.count - 1)


async def evaluate_metric(store: LogStore, expr: MetricExpr, steps: Steps, *, instant: bool) -> dict[str, object]:
    """The `data` of a metric query: a vector for an instant query, a matrix otherwise."""
    series = await _evaluate(store, expr, steps)
    ordered = sorted(series.items())
    if instant:
        time = seconds(steps.start_ns)
        result: list[dict[str, object]] = [
            {"metric": dict(key), "value": [time, format_value(points[0])]} for key, points in ordered if 0 in points
        ]
        return {"resultType": "vector", "result": result, "stats": _stats(len(result))}
    result = [
        {"metric": dict(key), "values": [[seconds(steps.at(i)), format_value(v)] for i, v in sorted(points.items())]}
        for key, points in ordered
        if points
    ]
    return {"resultType": "matrix", "result": result, "stats": _stats(len(result))}


async def _evaluate(store: LogStore, expr: MetricExpr, steps: Steps) -> Series:
    if isinstance(expr, RangeAggregation):
        return await _range_aggregation(store, expr, steps, lambda key: key)
    if expr.op == "sum" and isinstance(expr.inner, RangeAggregation):
        # Loki pushes a sum's grouping down into the range aggregation: the entries of a group are
        # totalled before a rate divides them, which rounds as Loki does (18/300, not 18 * 1/300).
        grouping = expr.grouping
        return await _range_aggregation(store, expr.inner, steps, lambda key: _group(key, grouping))
    inner = await _evaluate(store, expr.inner, steps)
    if expr.op in ("topk", "bottomk"):
        return _top(expr, inner)
    return _aggregate(expr, inner)


async def _range_aggregation(
    store: LogStore, expr: RangeAggregation, steps: Steps, series_of: Callable[[LabelKey], LabelKey]
) -> Series:
    first_ns = steps.start_ns - expr.range_ns + 1
    last_ns = steps.end_ns + 1
    streams = {s.id: s.labels for s in await store.select_streams(expr.query.matchers, first_ns, last_ns)}
    if not streams:
        return {}
    pipeline = Pipeline(expr.query.pipeline)
    by_bytes = expr.op in ("bytes_over_time", "bytes_rate")
    # Per series: step index -> change of (entries, weight) in the window from that step on.
    changes: dict[LabelKey, dict[int, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    # With line filters only, an entry's labels are its stream's plus its structured metadata,
    # so the series it counts in is worked out once per (stream, metadata), not once per entry.
    lines_only = all(isinstance(stage, LineFilter) for stage in pipeline.stages)
    known: dict[tuple[int, tuple[tuple[str, str], ...]], dict[int, list[float]]] = {}

    def add(chunk: list[tuple[int, StoredEntry]]) -> None:
        # On a worker thread; `changes` and `known` are only touched here while the query runs.
        for stream_id, entry in chunk:
            if lines_only:
                if pipeline.run(entry.line, EMPTY) is None:
                    continue
                seen = (stream_id, tuple(entry.structured_metadata.items()))
                series = known.get(seen)
                if series is None:
                    labels = {**streams[stream_id], **entry.structured_metadata}
                    series = known[seen] = changes[series_of(stream_key(labels))]
            else:
                base = {**streams[stream_id], **entry.structured_metadata}
                parsed = pipeline.run(entry.line, base)
                if parsed is None:
                    continue
                labels = {**base, **parsed}
                if ERROR_LABEL in labels:
                    raise InputError(_pipeline_error(labels))
                series = changes[series_of(stream_key(labels))]
            # Steps t with ts <= t < ts + range hold the entry: from ceil((ts - start) / step) on.
            low = max(0, -((steps.start_ns - entry.timestamp_ns) // steps.step_ns))
            high = min(steps.count - 1, (entry.timestamp_ns + expr.range_ns - 1 - steps.start_ns) // steps.step_ns)
            if low > high:
                continue
            weight = len(entry.line.encode()) if by_bytes else 1
            series[low][0] += 1
            series[low][1] += weight
            series[high + 1][0] -= 1
            series[high + 1][1] -= weight

    entries = store.entries(list(streams), first_ns, last_ns, direction="forward", contains=pipeline.contains)
    try:
        async for chunk in entry_chunks(entries):
            await anyio.to_thread.run_sync(add, chunk)
    finally:
        await _closing(entries)
    per_second = expr.op in ("rate", "bytes_rate")
    range_seconds = expr.range_ns / 1e9
    return {
        key: {i: total / range_seconds if per_second else total for i, total in _sweep(deltas)}
        for key, deltas in changes.items()
    }


def _sweep(deltas: Mapping[int, list[float]]) -> Iterable[tuple[int, float]]:
    present, total = 0, 0.0
    indices = sorted(deltas)
    for index, following in zip(indices, [*indices[1:], indices[-1]], strict=True):
        present += int(deltas[index][0])
        total += deltas[index][1]
        if present > 0:
            for step in range(index, following):
                yield step, total


def _pipeline_error(labels: Mapping[str, str]) -> str:
    error = labels[ERROR_LABEL]
    shown = {name: value for name, value in labels.items() if name != ERROR_DETAILS_LABEL}
    return (
        f"pipeline error: '{error}' for series: '{labels_text(stream_key(shown))}'. Use a label filter to "
        f'intentionally skip this error. (e.g | __error__!="{error}"). To skip all potential errors you can '
        'match empty errors.(e.g __error__="")'
    )


def _group(key: LabelKey, grouping: Grouping | None) -> LabelKey:
    if grouping is None:
        return ()
    if grouping.without:
        return tuple(pair for pair in key if pair[0] not in grouping.labels)
    return tuple(pair for pair in key if pair[0] in grouping.labels)


def _aggregate(expr: VectorAggregation, inner: Series) -> Series:
    values: dict[LabelKey, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, points in inner.items():
        group = values[_group(key, expr.grouping)]
        for index, value in points.items():
            group[index].append(value)
    combine: dict[str, Callable[[list[float]], float]] = {
        "sum": math.fsum,
        "max": max,
        "min": min,
        "count": len,
        "avg": lambda v: math.fsum(v) / len(v),
    }
    op = combine[expr.op]
    return {key: {i: float(op(v)) for i, v in points.items()} for key, points in values.items()}


def _top(expr: VectorAggregation, inner: Series) -> Series:
    by_step: dict[tuple[int, LabelKey], list[tuple[float, LabelKey]]] = defaultdict(list)
    for key, points in inner.items():
        for index, value in points.items():
            by_step[index, _group(key, expr.grouping)].append((value, key))
    result: Series = defaultdict(dict)
    k = expr.param or 1
    for (index, _), candidates in by_step.items():
        candidates.sort(key=lambda pair: pair[0], reverse=expr.op == "topk")
        for value, key in candidates[:k]:
            result[key][index] = value
    return dict(result)
