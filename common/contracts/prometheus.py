"""prometheus-mcp's tools as a contract: each tool's result model (with a short text rendering), its
name (`TOOLS`), and `PrometheusMcp`, the typed calls an agent makes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from analysis.summary import SeriesSummary
from common.contracts.calls import ToolCaller, ToolContract
from common.contracts.results import BoundedResult

__all__ = [
    "FIND_ANOMALOUS_SERIES",
    "LIST_ALERTS",
    "LIST_LABELS",
    "QUERY_RANGE",
    "SERVER",
    "TOOLS",
    "AlertsResult",
    "AnomalousSeries",
    "AnomalyScanResult",
    "InstantQueryResult",
    "InstantSample",
    "LabelsResult",
    "MetadataResult",
    "PrometheusMcp",
    "RangeQueryResult",
    "RangeSeries",
    "RulesResult",
    "SeriesResult",
    "TargetsResult",
]

SERVER = "prometheus-mcp"


def _labels(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


class InstantSample(BaseModel):
    labels: dict[str, str]
    value: float | None = Field(description="The value; null when it is NaN or ±Inf (see `special`).")
    special: Literal["NaN", "+Inf", "-Inf"] | None = None
    timestamp: str


class InstantQueryResult(BoundedResult):
    backend: str
    query: str
    time: str
    result_type: Literal["vector", "scalar", "string", "matrix"]
    samples: list[InstantSample]

    def render_text(self) -> str:
        head = f"{self.query} at {self.time} ({self.backend}): {self.total} result(s)"
        body = [f"  {_labels(s.labels)} = {s.special or _num(s.value)}" for s in self.samples]
        return "\n".join([head, *body, self._footer()]).strip()


class RangeSeries(BaseModel):
    labels: dict[str, str]
    summary: SeriesSummary = Field(description="min/max/mean/first/last over finite values; trend is per second.")
    points: list[tuple[float, float | None]] | None = Field(
        default=None, description="[unix_seconds, value] pairs (null for NaN/±Inf); omitted in summary detail."
    )
    downsampled_from: int | None = Field(default=None, description="Original point count when points were averaged.")


class RangeQueryResult(BoundedResult):
    backend: str
    query: str
    start: str
    end: str
    step_seconds: float
    detail: Literal["points", "summary"]
    series: list[RangeSeries]

    def render_text(self) -> str:
        head = f"{self.query} from {self.start} to {self.end} step {self.step_seconds:g}s ({self.backend}): "
        head += f"{self.total} series"
        body = [
            f"  {_labels(s.labels)}: min {_num(s.summary.min)} max {_num(s.summary.max)} "
            f"mean {_num(s.summary.mean)} last {_num(s.summary.last)} trend {_num(s.summary.trend_per_second)}/s"
            for s in self.series
        ]
        return "\n".join([head, *body, self._footer()]).strip()


class LabelsResult(BoundedResult):
    backend: str
    label: str | None = Field(description="The label whose values are listed; null when listing label names.")
    values: list[str]

    def render_text(self) -> str:
        what = f"values of {self.label}" if self.label else "label names"
        return "\n".join([f"{self.total} {what}: {', '.join(self.values)}", self._footer()]).strip()


class SeriesResult(BoundedResult):
    backend: str
    selector: str
    series: list[dict[str, str]]

    def render_text(self) -> str:
        body = [f"  {_labels(s)}" for s in self.series]
        return "\n".join([f"{self.total} series match {self.selector}", *body, self._footer()]).strip()


class MetricMetadata(BaseModel):
    metric: str
    type: str
    help: str
    unit: str


class MetadataResult(BoundedResult):
    backend: str
    metadata: list[MetricMetadata]

    def render_text(self) -> str:
        body = [f"  {m.metric} ({m.type}{', ' + m.unit if m.unit else ''}): {m.help}" for m in self.metadata]
        return "\n".join([f"{self.total} metric(s) with metadata", *body, self._footer()]).strip()


class Alert(BaseModel):
    name: str
    state: str
    labels: dict[str, str]
    annotations: dict[str, str]
    active_at: str | None
    value: str | None


class AlertsResult(BoundedResult):
    backend: str
    alerts: list[Alert]

    def render_text(self) -> str:
        body = [f"  [{a.state}] {a.name} {_labels(a.labels)} since {a.active_at or '?'}" for a in self.alerts]
        return "\n".join([f"{self.total} active alert(s)", *body, self._footer()]).strip()


class Rule(BaseModel):
    group: str
    file: str | None
    name: str
    type: Literal["alerting", "recording"]
    query: str
    health: str
    last_error: str | None
    state: str | None = Field(default=None, description="Alerting rules: inactive, pending or firing.")
    duration_seconds: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class RulesResult(BoundedResult):
    backend: str
    rules: list[Rule]

    def render_text(self) -> str:
        body = [
            f"  {r.type} {r.name} [{r.state or r.health}] {r.query}"
            + (f" (error: {r.last_error})" if r.last_error else "")
            for r in self.rules
        ]
        return "\n".join([f"{self.total} rule(s)", *body, self._footer()]).strip()


class Target(BaseModel):
    job: str
    instance: str
    health: Literal["up", "down", "unknown"]
    scrape_url: str
    last_error: str | None
    last_scrape: str | None
    last_scrape_duration_seconds: float | None
    labels: dict[str, str]


class TargetsResult(BoundedResult):
    backend: str
    up: int
    down: int
    unknown: int
    targets: list[Target] = Field(description="Unhealthy targets first.")

    def render_text(self) -> str:
        head = f"{self.total} target(s): {self.up} up, {self.down} down, {self.unknown} unknown"
        body = [
            f"  [{t.health}] {t.job} {t.instance}" + (f": {t.last_error}" if t.last_error else "") for t in self.targets
        ]
        return "\n".join([head, *body, self._footer()]).strip()


class AnomalousSeries(BaseModel):
    labels: dict[str, str]
    score: float = Field(description="Robust departure: |recent median - baseline median| / baseline spread.")
    direction: Literal["up", "down", "flat"]
    baseline_median: float
    recent_median: float
    baseline_spread: float
    relative_change: float | None
    recent_outlier_fraction: float


class AnomalyScanResult(BoundedResult):
    backend: str
    query: str
    start: str
    split_at: str
    end: str
    step_seconds: float
    scanned_series: int
    skipped_series: int = Field(description="Series with too few points on either side of split_at.")
    series: list[AnomalousSeries] = Field(description="Most anomalous first.")

    def render_text(self) -> str:
        head = (
            f"{self.query}: {self.scanned_series} series scanned, baseline {self.start}..{self.split_at}, "
            f"recent {self.split_at}..{self.end}"
        )
        body = [
            f"  {s.score:.3g} {s.direction} {_labels(s.labels)}: {_num(s.baseline_median)} -> {_num(s.recent_median)}"
            for s in self.series
        ]
        return "\n".join([head, *body, self._footer()]).strip()


QUERY = ToolContract(SERVER, "prometheus_query", InstantQueryResult)
QUERY_RANGE = ToolContract(SERVER, "prometheus_query_range", RangeQueryResult)
LIST_LABELS = ToolContract(SERVER, "prometheus_list_labels", LabelsResult)
FIND_SERIES = ToolContract(SERVER, "prometheus_find_series", SeriesResult)
GET_METRIC_METADATA = ToolContract(SERVER, "prometheus_get_metric_metadata", MetadataResult)
LIST_ALERTS = ToolContract(SERVER, "prometheus_list_alerts", AlertsResult)
LIST_RULES = ToolContract(SERVER, "prometheus_list_rules", RulesResult)
LIST_TARGETS = ToolContract(SERVER, "prometheus_list_targets", TargetsResult)
FIND_ANOMALOUS_SERIES = ToolContract(SERVER, "prometheus_find_anomalous_series", AnomalyScanResult)
#: Every tool the server offers (tests/servers/test_output_schemas.py holds the server to it).
TOOLS = (
    QUERY,
    QUERY_RANGE,
    LIST_LABELS,
    FIND_SERIES,
    GET_METRIC_METADATA,
    LIST_ALERTS,
    LIST_RULES,
    LIST_TARGETS,
    FIND_ANOMALOUS_SERIES,
)


class PrometheusMcp:
    """The prometheus-mcp tools agents call, as typed calls; an argument left None is the tool's default.

    Times are what the tools take ('now-1h', RFC 3339, unix seconds), steps and lengths durations ('30s').
    `matchers` map a label to its value, or to `=~<regex>` for a regex matcher (RE2, anchored).
    """

    def __init__(self, tools: ToolCaller) -> None:
        self._tools = tools

    async def query_range(
        self,
        query: str,
        *,
        start: str | None = None,
        end: str | None = None,
        step: str | None = None,
        detail: Literal["auto", "points", "summary"] | None = None,
        limit: int | None = None,
    ) -> RangeQueryResult:
        return await QUERY_RANGE.call(
            self._tools, query=query, start=start, end=end, step=step, detail=detail, limit=limit
        )

    async def list_labels(
        self,
        label: str | None = None,
        *,
        matchers: dict[str, str] | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> LabelsResult:
        """Label names, or the values of `label` (`__name__` for metric names), on series matching `matchers`;
        `cursor` (a result's `next_cursor`) gets the next page."""
        return await LIST_LABELS.call(
            self._tools, label=label, matchers=matchers, start=start, end=end, limit=limit, cursor=cursor
        )

    async def find_series(
        self,
        metric: str | None = None,
        *,
        matchers: dict[str, str] | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
    ) -> SeriesResult:
        """The label sets of `metric`'s series matching `matchers` in the window (at most `limit`)."""
        return await FIND_SERIES.call(self._tools, metric=metric, matchers=matchers, start=start, end=end, limit=limit)

    async def find_anomalous_series(
        self,
        metric: str,
        *,
        matchers: dict[str, str] | None = None,
        start: str | None = None,
        end: str | None = None,
        step: str | None = None,
        recent: str | None = None,
        limit: int | None = None,
    ) -> AnomalyScanResult:
        """`metric`'s series ranked by how far their last `recent` departs from the rest of the window."""
        return await FIND_ANOMALOUS_SERIES.call(
            self._tools,
            metric=metric,
            matchers=matchers,
            start=start,
            end=end,
            step=step,
            recent=recent,
            limit=limit,
        )

    async def list_alerts(
        self,
        *,
        state: Literal["firing", "pending"] | None = None,
        matchers: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> AlertsResult:
        return await LIST_ALERTS.call(self._tools, state=state, matchers=matchers, limit=limit)
