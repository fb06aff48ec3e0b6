"""The `metadata` group: the stream labels and their values, and the streams a selector picks."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from common.contracts.loki import LabelsResult, StreamsResult
from common.mcp.backends import BackendTools
from common.mcp.bounds import clamp_limit, clamp_window, page_bounds
from common.mcp.tool_parameters import Backend, Cursor, End, Limit, Start
from common.mcp.tools import tool
from common.pagination import paginate
from common.redaction import redact
from common.timerange import TimeRange, unix_ns
from servers.loki_mcp import guardrails
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.settings import Limits

__all__ = ["MetadataTools"]


class MetadataTools(BackendTools[Limits, LokiClient]):
    group = "metadata"

    @tool("List Loki label names or values")
    async def loki_list_labels(
        self,
        label: Annotated[
            str | None, Field(description="List the values of this label; omit to list label names.")
        ] = None,
        query: Annotated[
            str | None, Field(description='Only streams of this selector, e.g. {namespace="prod"}.')
        ] = None,
        start: Start = "now-6h",
        end: End = "now",
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> LabelsResult:
        """List the stream label names, or the values of one label, seen in the window.

        Start here to learn which labels (service, namespace, level, ...) name the streams you need.
        """
        notes: list[str] = []
        client = self.backends.pick(backend)
        if query is not None:
            query = guardrails.check_query(query, self.limits)
        window = clamp_window(TimeRange.parse(start, end), self.limits.max_range_seconds, notes)
        start_ns, end_ns = unix_ns(window.start), unix_ns(window.end)
        if label is None:
            values = await client.labels(start_ns=start_ns, end_ns=end_ns, query=query)
        else:
            values = await client.label_values(label, start_ns=start_ns, end_ns=end_ns, query=query)
        cap = clamp_limit(limit, self.limits.max_list_items, "items", notes)
        page = paginate(sorted(values), limit=cap, cursor=cursor)
        return LabelsResult(
            backend=client.name,
            label=label,
            values=[redact(value) for value in page.items],
            **page_bounds(page, notes),
        )

    @tool("Find Loki log streams")
    async def loki_find_streams(
        self,
        query: Annotated[str, Field(description='Stream selector, e.g. {namespace="prod", service=~"check.*"}.')],
        start: Start = "now-1h",
        end: End = "now",
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> StreamsResult:
        """List the log streams (label sets) a selector picks in the window."""
        notes: list[str] = []
        client = self.backends.pick(backend)
        query = guardrails.check_query(query, self.limits)
        window = clamp_window(TimeRange.parse(start, end), self.limits.max_range_seconds, notes)
        streams = await client.series([query], start_ns=unix_ns(window.start), end_ns=unix_ns(window.end))
        ordered = sorted(streams, key=lambda labels: sorted(labels.items()))
        cap = clamp_limit(limit, self.limits.max_list_items, "streams", notes)
        page = paginate(ordered, limit=cap, cursor=cursor)
        return StreamsResult(
            backend=client.name,
            streams=[{k: redact(v) for k, v in labels.items()} for labels in page.items],
            **page_bounds(page, notes),
        )
