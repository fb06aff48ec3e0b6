"""prometheus-mcp: the MCP tools over one or more Prometheus-compatible backends.

Tools are thin: parse and bound the arguments, call `client`, shape with `shaping`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from analysis.anomaly import rank_departures
from common import __version__
from common.contracts.prometheus import (
    AlertsResult,
    AnomalousSeries,
    AnomalyScanResult,
    InstantQueryResult,
    LabelsResult,
    MetadataResult,
    RangeQueryResult,
    RulesResult,
    SeriesResult,
    TargetsResult,
)
from common.errors import InputError
from common.mcp.tool_parameters import Backend, Cursor, End, Limit, Start
from common.mcp.tools import CONVENTIONS, ToolGate, ToolSpec, build_tools, enabled
from common.metrics import ServerMetrics
from common.pagination import Page, paginate
from common.timerange import TimeArgument, TimeRange, format_duration, iso, parse_duration, parse_time
from servers.prometheus_mcp import promql, shaping
from servers.prometheus_mcp.client import ApiAnswer, PrometheusClient
from servers.prometheus_mcp.settings import PrometheusMcpSettings

__all__ = ["SERVER_NAME", "PrometheusTools", "create_server"]

SERVER_NAME = "prometheus-mcp"

Metric = Annotated[str | None, Field(description="Exact metric name.")]
Matchers = Annotated[dict[str, str], Field(description='Label equality matchers, e.g. {"service": "checkout"}.')]
Step = Annotated[str | float | None, Field(description="e.g. '30s', or seconds; default: about 240 points.")]


class PrometheusTools:
    """The tools; each public coroutine is one MCP tool, its docstring the model's documentation."""

    def __init__(self, settings: PrometheusMcpSettings, clients: Mapping[str, PrometheusClient]) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.clients = clients

    def _client(self, backend: str | None) -> PrometheusClient:
        if backend is None:
            return next(iter(self.clients.values()))
        try:
            return self.clients[backend]
        except KeyError:
            raise InputError(f"Unknown backend {backend!r}; configured backends: {', '.join(self.clients)}.") from None

    def _limit(self, requested: int | None, maximum: int, what: str, notes: list[str]) -> int:
        if requested is None:
            return maximum
        if requested > maximum:
            notes.append(f"limit lowered from {requested} to the maximum of {maximum} {what}")
            return maximum
        return requested

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
        client = self._client(backend)
        answer = await client.query(query, time=at)
        data = answer.data or {}
        result_type = str(data.get("resultType", "vector"))
        samples = shaping.instant_samples(result_type, data.get("result"), notes)
        page = paginate(samples, limit=self._limit(limit, self.limits.max_series, "series", notes), cursor=None)
        return InstantQueryResult(
            backend=client.name,
            query=query,
            time=iso(at),
            result_type=result_type,
            samples=page.items,
            # A cursor would re-run the query at another moment: narrow the query instead.
            **{**_paged(page, notes, answer), "next_cursor": None},
        )

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
        window = shaping.clamp_window(TimeRange.parse(start, end), self.limits, notes)
        chosen = shaping.choose_step(window, _step(step), self.limits, notes)
        client = self._client(backend)
        answer = await client.query_range(query, start=window.start, end=window.end, step=chosen)
        data = answer.data or {}
        result = data.get("result") or []
        cap = self._limit(limit, self.limits.max_series, "series", notes)
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
            returned=len(series),
            total=len(result),
            truncated=len(result) > cap,
            limits_applied=notes,
            warnings=list(answer.warnings),
        )

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
        client = self._client(backend)
        if label is None:
            answer = await client.label_names(match, start=window.start, end=window.end)
        else:
            answer = await client.label_values(
                promql.check_label_name(label), match, start=window.start, end=window.end
            )
        values = sorted(str(v) for v in answer.data or ())
        page = paginate(values, limit=self._limit(limit, self.limits.max_list_items, "values", notes), cursor=cursor)
        return LabelsResult(
            backend=client.name,
            label=label,
            values=page.items,
            **_paged(page, notes, answer),
        )

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
        client = self._client(backend)
        answer = await client.series([selector], start=window.start, end=window.end)
        series = sorted((dict(s) for s in answer.data or ()), key=lambda s: sorted(s.items()))
        page = paginate(series, limit=self._limit(limit, self.limits.max_list_items, "series", notes), cursor=cursor)
        return SeriesResult(
            backend=client.name,
            selector=selector,
            series=page.items,
            **_paged(page, notes, answer),
        )

    async def prometheus_get_metric_metadata(
        self,
        metric: Annotated[str | None, Field(description="Exact metric name; omit for all metrics.")] = None,
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> MetadataResult:
        """Type (counter, gauge, histogram, summary), help and unit of metrics, as scraped (may be empty)."""
        notes: list[str] = []
        client = self._client(backend)
        answer = await client.metadata(promql.check_metric_name(metric) if metric else None)
        entries = shaping.metadata(answer.data)
        page = paginate(entries, limit=self._limit(limit, self.limits.max_list_items, "metrics", notes), cursor=cursor)
        return MetadataResult(
            backend=client.name,
            metadata=page.items,
            **_paged(page, notes, answer),
        )

    async def prometheus_list_alerts(
        self,
        state: Annotated[Literal["firing", "pending"] | None, Field(description="Only alerts in this state.")] = None,
        name: Annotated[str | None, Field(description="Only alerts with this alertname.")] = None,
        matchers: Matchers | None = None,
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> AlertsResult:
        """Active (firing and pending) alerts evaluated by the backend's alerting rules, firing first."""
        notes: list[str] = []
        client = self._client(backend)
        answer = await client.alerts()
        alerts = [
            alert
            for alert in shaping.alerts(answer.data)
            if (not state or alert.state == state)
            and (not name or alert.name == name)
            and all(alert.labels.get(k) == v for k, v in (matchers or {}).items())
        ]
        alerts.sort(key=lambda a: (a.state != "firing", a.name, sorted(a.labels.items())))
        page = paginate(alerts, limit=self._limit(limit, self.limits.max_list_items, "alerts", notes), cursor=cursor)
        return AlertsResult(backend=client.name, alerts=page.items, **_paged(page, notes, answer))

    async def prometheus_list_rules(
        self,
        type: Annotated[Literal["alerting", "recording"] | None, Field(description="Only rules of this type.")] = None,
        name: Annotated[str | None, Field(description="Only rules with this name (alert or record name).")] = None,
        unhealthy_only: Annotated[bool, Field(description="Only rules whose last evaluation failed.")] = False,
        limit: Limit = None,
        cursor: Cursor = None,
        backend: Backend = None,
    ) -> RulesResult:
        """Alerting and recording rules with their expression, health, last error and alert state."""
        notes: list[str] = []
        client = self._client(backend)
        answer = await client.rules({"alerting": "alert", "recording": "record"}.get(type or ""))
        rules = [
            rule
            for rule in shaping.rules(answer.data)
            if (not type or rule.type == type)
            and (not name or rule.name == name)
            and not (unhealthy_only and rule.health == "ok")
        ]
        page = paginate(rules, limit=self._limit(limit, self.limits.max_list_items, "rules", notes), cursor=cursor)
        return RulesResult(
            backend=client.name,
            rules=page.items,
            **_paged(page, notes, answer),
        )

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
        client = self._client(backend)
        answer = await client.targets()
        targets = [
            target
            for target in shaping.targets(answer.data)
            if (not health or target.health == health) and (not job or target.job == job)
        ]
        order = {"down": 0, "unknown": 1, "up": 2}
        targets.sort(key=lambda t: (order[t.health], t.job, t.instance))
        page = paginate(targets, limit=self._limit(limit, self.limits.max_list_items, "targets", notes), cursor=cursor)
        return TargetsResult(
            backend=client.name,
            up=sum(t.health == "up" for t in targets),
            down=sum(t.health == "down" for t in targets),
            unknown=sum(t.health == "unknown" for t in targets),
            targets=page.items,
            **_paged(page, notes, answer),
        )

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
        window = shaping.clamp_window(TimeRange.parse(start, end), self.limits, notes)
        chosen = shaping.choose_step(window, _step(step), self.limits, notes)
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
        client = self._client(backend)
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
            returned=len(top),
            total=len(ranking),
            truncated=len(ranking) > len(top) or len(result) > len(scanned),
            limits_applied=notes,
            warnings=list(answer.warnings),
        )

    def specs(self) -> list[ToolSpec]:
        specs = [
            ToolSpec(self.prometheus_query, "Query Prometheus (instant)", group="query"),
            ToolSpec(self.prometheus_query_range, "Query Prometheus over a time range", group="query"),
            ToolSpec(self.prometheus_list_labels, "List Prometheus label names or values", group="metadata"),
            ToolSpec(self.prometheus_find_series, "Find Prometheus series", group="metadata"),
            ToolSpec(self.prometheus_get_metric_metadata, "Get Prometheus metric metadata", group="metadata"),
            ToolSpec(self.prometheus_list_alerts, "List active Prometheus alerts", group="alerts"),
            ToolSpec(self.prometheus_list_rules, "List Prometheus alerting and recording rules", group="alerts"),
            ToolSpec(self.prometheus_list_targets, "List Prometheus scrape targets", group="metadata"),
            ToolSpec(self.prometheus_find_anomalous_series, "Find anomalous Prometheus series", group="analysis"),
        ]
        return enabled(specs, self.settings.disabled_groups)


def _paged(page: Page[Any], notes: list[str], answer: ApiAnswer) -> dict[str, Any]:
    """The fields every bounded result carries."""
    return {
        "returned": len(page.items),
        "total": page.total,
        "truncated": page.truncated,
        "next_cursor": page.next_cursor,
        "limits_applied": notes,
        "warnings": list(answer.warnings),
    }


def _step(step: str | float | None) -> float | None:
    if step is None:
        return None
    seconds = parse_duration(step)
    if seconds <= 0:
        raise InputError(f"Invalid step {step!r}: it must be positive, such as '30s' or '5m'.")
    return seconds


def create_clients(
    settings: PrometheusMcpSettings, metrics: ServerMetrics | None = None
) -> dict[str, PrometheusClient]:
    return {
        upstream.name: PrometheusClient(
            upstream,
            timeout=settings.limits.timeout_seconds,
            max_response_bytes=settings.limits.max_response_bytes,
            metrics=metrics,
        )
        for upstream in settings.backends
    }


def create_server(
    settings: PrometheusMcpSettings,
    clients: Mapping[str, PrometheusClient],
    *,
    metrics: ServerMetrics | None = None,
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
) -> MCPServer[Any]:
    tools = build_tools(PrometheusTools(settings, clients).specs())
    backends = ", ".join(f"{u.name} ({u.url})" for u in settings.backends)
    return MCPServer(
        SERVER_NAME,
        title="Prometheus",
        version=__version__,
        instructions=(
            "Read-only access to Prometheus-compatible metrics: PromQL queries, series and label discovery, "
            "metadata, alerts, rules, scrape targets and an anomaly scan. "
            f"Backends (`backend`): {backends}; the first is the default. Start with prometheus_list_labels or "
            f"prometheus_find_series when you do not know the metric names. {CONVENTIONS}"
        ),
        tools=tools,
        middleware=[ToolGate(tools, metrics)],
        token_verifier=token_verifier,
        auth=auth,
    )
