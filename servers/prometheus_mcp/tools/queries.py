"""The `query` group: PromQL at one instant and over a window."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from common.contracts.prometheus import InstantQueryResult, RangeQueryResult
from common.mcp.backends import BackendTools
from common.mcp.bounds import bounds, choose_step, clamp_limit, clamp_window
from common.mcp.tool_parameters import Backend, End, Limit, Start, Step, parse_step
from common.mcp.tools import tool
from common.timerange import TimeArgument, TimeRange, iso, parse_time
from servers.prometheus_mcp import promql, shaping
from servers.prometheus_mcp.client import PrometheusClient
from servers.prometheus_mcp.settings import Limits

__all__ = ["QueryTools"]


class QueryTools(BackendTools[Limits, PrometheusClient]):
    group = "query"

    @tool("Query Prometheus (instant)")
    async def prometheus_query(
        self,
        query: Annotated[str, Field(description="PromQL, e.g. 'sum by (code) (rate(http_requests_total[5m]))'.")],
        time: Annotated[TimeArgument, Field(description="Evaluation time.")] = "now",
        limit: Limit = None,
        backend: Backend = None,
    ) -> InstantQueryResult:
        """Evaluate PromQL at one instant: each series' value now or at `time`.

        For how values changed over time use prometheus_query_range.
        """
        notes: list[str] = []
        query = promql.check_query(query, self.limits.max_query_length)
        at = parse_time(time, name="time")
        client = self.backends.pick(backend)
        answer = await client.query(query, time=at)
        data = answer.data or {}
        result_type = str(data.get("resultType", "vector"))
        samples = shaping.instant_samples(result_type, data.get("result"), notes)
        cap = clamp_limit(limit, self.limits.max_series, "series", notes)
        # No cursor: a next page would re-run the query at another moment; narrow the query instead.
        return InstantQueryResult(
            backend=client.name,
            query=query,
            time=iso(at),
            result_type=result_type,
            samples=samples[:cap],
            **bounds(samples[:cap], len(samples), notes, warnings=answer.warnings),
        )

    @tool("Query Prometheus over a time range")
    async def prometheus_query_range(
        self,
        query: Annotated[str, Field(description="PromQL, e.g. 'rate(http_requests_total[5m])'.")],
        start: Start = "now-1h",
        end: End = "now",
        step: Step = None,
        detail: Annotated[
            Literal["auto", "points", "summary"],
            Field(
                description="summary: statistics only; points: also the values (averaged to fit); "
                "auto: points if they fit."
            ),
        ] = "auto",
        limit: Limit = None,
        backend: Backend = None,
    ) -> RangeQueryResult:
        """Evaluate PromQL over a window: how each series changed.

        Each series has a summary (min, max, mean, first, last, trend per second) and, when they fit, its points.
        """
        notes: list[str] = []
        query = promql.check_query(query, self.limits.max_query_length)
        window = clamp_window(TimeRange.parse(start, end), self.limits.max_range_seconds, notes)
        chosen = choose_step(
            window,
            parse_step(step),
            notes,
            default_points=self.limits.default_points_per_series,
            max_points=self.limits.max_points_per_series,
        )
        client = self.backends.pick(backend)
        answer = await client.query_range(query, start=window.start, end=window.end, step=chosen)
        data = answer.data or {}
        result = data.get("result") or []
        cap = clamp_limit(limit, self.limits.max_series, "series", notes)
        series, used = shaping.range_series(
            shaping.parse_matrix(result[:cap]),
            detail=detail,
            max_points_returned=self.limits.max_points_returned,
            notes=notes,
        )
        return RangeQueryResult(
            backend=client.name,
            query=query,
            start=iso(window.start),
            end=iso(window.end),
            step_seconds=chosen,
            detail=used,
            series=series,
            **bounds(series, len(result), notes, truncated=len(result) > cap, warnings=answer.warnings),
        )
