"""The `analysis` group: which series departed from their own recent past."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from analysis.anomaly import rank_departures
from common.contracts.prometheus import AnomalousSeries, AnomalyScanResult
from common.errors import InputError
from common.mcp.backends import BackendTools
from common.mcp.bounds import bounds, choose_step, clamp_window
from common.mcp.tool_parameters import Backend, End, Start, Step, parse_step
from common.mcp.tools import tool
from common.timerange import TimeRange, format_duration, iso, parse_duration
from servers.prometheus_mcp import promql, shaping
from servers.prometheus_mcp.client import PrometheusClient
from servers.prometheus_mcp.settings import Limits
from servers.prometheus_mcp.tools.parameters import Matchers, Metric

__all__ = ["AnomalyTools"]


class AnomalyTools(BackendTools[Limits, PrometheusClient]):
    group = "analysis"

    @tool("Find anomalous Prometheus series")
    async def prometheus_find_anomalous_series(
        self,
        metric: Metric = None,
        matchers: Matchers | None = None,
        query: Annotated[
            str | None, Field(description="Any PromQL returning series, instead of metric/matchers.")
        ] = None,
        start: Start = "now-1h",
        end: End = "now",
        recent: Annotated[
            str | None, Field(description="Length of the recent part, e.g. '15m'; default: a quarter.")
        ] = None,
        step: Step = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        backend: Backend = None,
    ) -> AnomalyScanResult:
        """Rank series by how far their recent part departs from the rest: which instance, route or dependency changed.

        Score: |median(recent) - median(baseline)| / scaled MAD of the baseline (5: five typical fluctuations
        away). Counters (_total, _count, _sum, _bucket) are scanned as per-second rates.
        """
        notes: list[str] = []
        window = clamp_window(TimeRange.parse(start, end), self.limits.max_range_seconds, notes)
        chosen = choose_step(
            window,
            parse_step(step),
            notes,
            default_points=self.limits.default_points_per_series,
            max_points=self.limits.max_points_per_series,
        )
        if query is not None:
            if metric or matchers:
                raise InputError("Give either query or metric/matchers, not both.")
            expr = promql.check_query(query, self.limits.max_query_length)
        else:
            expr = promql.selector(metric, matchers or {})
            if metric and metric.endswith(("_total", "_count", "_sum", "_bucket")):
                expr = f"rate({expr}[{format_duration(max(4 * chosen, 120.0))}])"
        recent_seconds = parse_duration(recent) if recent else window.seconds / 4
        if not 0 < recent_seconds < window.seconds:
            raise InputError(
                f"recent ({recent}) must be shorter than the window ({format_duration(window.seconds)}) and positive."
            )
        split_at = window.end - recent_seconds
        client = self.backends.pick(backend)
        answer = await client.query_range(expr, start=window.start, end=window.end, step=chosen)
        result = (answer.data or {}).get("result") or []
        scanned = shaping.parse_matrix(result[: self.limits.scan_max_series])
        if len(result) > len(scanned):
            notes.append(
                f"{len(result)} series matched; only the first {len(scanned)} were scanned (narrow the selector)"
            )
        ranking = rank_departures([points for _, points in scanned], split_at)
        top = [
            AnomalousSeries(
                labels=scanned[d.key][0],
                score=d.score,
                direction=d.direction,
                baseline_median=d.baseline_median,
                recent_median=d.recent_median,
                baseline_spread=d.baseline_spread,
                relative_change=d.relative_change,
                recent_outlier_fraction=d.recent_outlier_fraction,
            )
            for d in ranking[:limit]
        ]
        return AnomalyScanResult(
            backend=client.name,
            query=expr,
            start=iso(window.start),
            split_at=iso(split_at),
            end=iso(window.end),
            step_seconds=chosen,
            scanned_series=len(scanned),
            skipped_series=len(scanned) - len(ranking),
            series=top,
            **bounds(
                top,
                len(ranking),
                notes,
                truncated=len(ranking) > len(top) or len(result) > len(scanned),
                warnings=answer.warnings,
            ),
        )
