"""The `query` group: log lines, and log metrics over a window."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field

from analysis.summary import downsample, summarize
from common.contracts.loki import LogQueryResult, MetricQueryResult, MetricSeriesResult
from common.mcp.backends import BackendTools
from common.mcp.bounds import bounds, choose_step, clamp_limit, clamp_window
from common.mcp.tool_parameters import Backend, End, Limit, Start, Step, parse_step
from common.mcp.tools import tool
from common.timerange import TimeRange, iso, unix_ns
from servers.loki_mcp import guardrails
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.models import MetricResult
from servers.loki_mcp.settings import Limits
from servers.loki_mcp.tools.parameters import Query
from servers.loki_mcp.tools.shown import log_streams

__all__ = ["QueryTools"]

# Loki refuses a range query of more than 11 000 steps.
MAX_STEPS = 11_000
DEFAULT_STEPS = 240


class QueryTools(BackendTools[Limits, LokiClient]):
    group = "query"

    @tool("Query Loki log lines")
    async def loki_query_logs(
        self,
        query: Query,
        start: Start = "now-1h",
        end: End = "now",
        limit: Limit = None,
        direction: Annotated[
            Literal["backward", "forward"], Field(description="'backward': newest first (default); 'forward'.")
        ] = "backward",
        backend: Backend = None,
    ) -> LogQueryResult:
        """Read log lines matching a LogQL query, grouped by stream, newest first.

        The stream selector must pick some streams ({service="x"}), not all. Add line filters (|= "text",
        |~ "regex") and parsers (| json, | logfmt) with label filters to narrow. At most `limit` lines
        (default 100, maximum 1000); secrets in lines are redacted.
        """
        notes: list[str] = []
        client = self.backends.pick(backend)
        query = guardrails.check_query(query, self.limits)
        window = clamp_window(TimeRange.parse(start, end), self.limits.max_range_seconds, notes)
        cap = clamp_limit(limit, self.limits.max_limit, "lines", notes, default=self.limits.default_limit)
        await guardrails.check_cost(client, query, window, self.limits, notes)
        result = await client.query_logs(
            query, start_ns=unix_ns(window.start), end_ns=unix_ns(window.end), limit=cap, direction=direction
        )
        # Newest (or oldest) first across streams, so the stream of the first line is the first stream.
        streams = log_streams(result.merged(), self.limits.max_line_chars)
        lines = [line for stream in streams for line in stream.lines]
        # Loki says a log query was cut at the limit, not how many lines matched.
        return LogQueryResult(
            backend=client.name,
            query=query,
            start=iso(window.start),
            end=iso(window.end),
            direction=direction,
            streams=streams,
            **bounds(lines, len(lines), notes, truncated=result.truncated, warnings=result.warnings),
        )

    @tool("Query Loki log metrics over a time range")
    async def loki_query_metrics(
        self,
        query: Annotated[
            str,
            Field(
                description='LogQL metric query, e.g. sum by (level) (count_over_time({service="checkout"}[5m])) '
                'or topk(5, sum by (service) (rate({namespace="prod"} |= "error" [5m]))).'
            ),
        ],
        start: Start = "now-1h",
        end: End = "now",
        step: Step = None,
        limit: Limit = None,
        backend: Backend = None,
    ) -> MetricQueryResult:
        """Evaluate a LogQL metric query over a window: log volumes and rates per label set over time.

        Each series comes with a summary (min, max, mean, first, last, trend) and its points when they fit.
        """
        notes: list[str] = []
        client = self.backends.pick(backend)
        query = guardrails.check_query(query, self.limits)
        window = clamp_window(TimeRange.parse(start, end), self.limits.max_range_seconds, notes)
        chosen = choose_step(window, parse_step(step), notes, default_points=DEFAULT_STEPS, max_points=MAX_STEPS)
        await guardrails.check_cost(client, query, window, self.limits, notes)
        result = await client.query_metrics(
            query, start_ns=unix_ns(window.start), end_ns=unix_ns(window.end), step=chosen
        )
        cap = clamp_limit(limit, self.limits.max_series, "series", notes)
        series = self._series(result, cap, notes)
        return MetricQueryResult(
            backend=client.name,
            query=query,
            start=iso(window.start),
            end=iso(window.end),
            step_seconds=chosen,
            result_type=result.result_type,
            series=series,
            **bounds(series, len(result.series), notes, warnings=result.warnings),
        )

    def _series(self, result: MetricResult, cap: int, notes: list[str]) -> list[MetricSeriesResult]:
        kept = result.series[:cap]
        budget = self.limits.max_points_returned // max(1, len(kept))
        if any(len(s.points) > budget for s in kept):
            if budget >= 10:
                notes.append(f"points averaged down to at most {budget} per series")
            else:
                notes.append("points left out: too many series to show them; summaries only")
        out = []
        for series in kept:
            points = None
            if budget >= 10:
                points = [
                    (iso(ts), value if math.isfinite(value) else None)
                    for ts, value in downsample(series.points, budget)
                ]
            out.append(MetricSeriesResult(labels=dict(series.labels), summary=summarize(series.points), points=points))
        return out
