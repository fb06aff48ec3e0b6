"""The `metadata` group: label names and values, series, metric metadata and scrape targets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from common.contracts.prometheus import LabelsResult, MetadataResult, SeriesResult, TargetsResult
from common.mcp.backends import BackendTools
from common.mcp.bounds import clamp_limit, page_bounds
from common.mcp.tool_parameters import Backend, Cursor, End, Limit, Start
from common.mcp.tools import tool
from common.pagination import paginate
from common.timerange import TimeRange
from servers.prometheus_mcp import promql, shaping
from servers.prometheus_mcp.client import PrometheusClient
from servers.prometheus_mcp.settings import Limits
from servers.prometheus_mcp.tools.parameters import Matchers, Metric

__all__ = ["MetadataTools"]


class MetadataTools(BackendTools[Limits, PrometheusClient]):
    group = "metadata"

    @tool("List Prometheus label names or values")
    async def prometheus_list_labels(
        self,
        label: Annotated[str | None, Field(description="List this label's values; omit for label names.")] = None,
        metric: Metric = None,
        matchers: Matchers | None = None,
        start: Start = "now-1h",
        end: End = "now",
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> LabelsResult:
        """Label names, or one label's values, optionally only on matching series.

        E.g. label='service', metric='http_requests_total': the services that report requests.
        """
        notes: list[str] = []
        window = TimeRange.parse(start, end)
        match = [promql.selector(metric, matchers or {})] if metric or matchers else []
        client = self.backends.pick(backend)
        if label is None:
            answer = await client.label_names(match, start=window.start, end=window.end)
        else:
            answer = await client.label_values(
                promql.check_label_name(label), match, start=window.start, end=window.end
            )
        values = sorted(str(v) for v in answer.data or ())
        page = paginate(values, limit=clamp_limit(limit, self.limits.max_list_items, "values", notes), cursor=cursor)
        return LabelsResult(
            backend=client.name, label=label, values=page.items, **page_bounds(page, notes, answer.warnings)
        )

    @tool("Find Prometheus series")
    async def prometheus_find_series(
        self,
        metric: Metric = None,
        matchers: Matchers | None = None,
        start: Start = "now-1h",
        end: End = "now",
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> SeriesResult:
        """The series (label sets) of a metric and/or label matchers in a window."""
        notes: list[str] = []
        window = TimeRange.parse(start, end)
        selector = promql.selector(metric, matchers or {})
        client = self.backends.pick(backend)
        answer = await client.series([selector], start=window.start, end=window.end)
        series = sorted((dict(s) for s in answer.data or ()), key=lambda s: sorted(s.items()))
        page = paginate(series, limit=clamp_limit(limit, self.limits.max_list_items, "series", notes), cursor=cursor)
        return SeriesResult(
            backend=client.name, selector=selector, series=page.items, **page_bounds(page, notes, answer.warnings)
        )

    @tool("Get Prometheus metric metadata")
    async def prometheus_get_metric_metadata(
        self,
        metric: Annotated[str | None, Field(description="Exact metric name; omit for all metrics.")] = None,
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> MetadataResult:
        """Type (counter, gauge, histogram, summary), help and unit of metrics, as scraped (may be empty)."""
        notes: list[str] = []
        client = self.backends.pick(backend)
        answer = await client.metadata(promql.check_metric_name(metric) if metric else None)
        entries = shaping.metadata(answer.data)
        page = paginate(entries, limit=clamp_limit(limit, self.limits.max_list_items, "metrics", notes), cursor=cursor)
        return MetadataResult(backend=client.name, metadata=page.items, **page_bounds(page, notes, answer.warnings))

    @tool("List Prometheus scrape targets")
    async def prometheus_list_targets(
        self,
        health: Annotated[
            Literal["up", "down", "unknown"] | None, Field(description="Only targets in this state.")
        ] = None,
        job: Annotated[str | None, Field(description="Only targets of this scrape job.")] = None,
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> TargetsResult:
        """Scrape targets and their health (down targets first, with the scrape error)."""
        notes: list[str] = []
        client = self.backends.pick(backend)
        answer = await client.targets()
        targets = [
            target
            for target in shaping.targets(answer.data)
            if (not health or target.health == health) and (not job or target.job == job)
        ]
        order = {"down": 0, "unknown": 1, "up": 2}
        targets.sort(key=lambda t: (order[t.health], t.job, t.instance))
        page = paginate(targets, limit=clamp_limit(limit, self.limits.max_list_items, "targets", notes), cursor=cursor)
        return TargetsResult(
            backend=client.name,
            up=sum(t.health == "up" for t in targets),
            down=sum(t.health == "down" for t in targets),
            unknown=sum(t.health == "unknown" for t in targets),
            targets=page.items,
            **page_bounds(page, notes, answer.warnings),
        )
