"""loki-mcp's tools as a contract: each tool's result model (with a short text rendering), its name
(`TOOLS`), and `LokiMcp`, the typed calls an agent makes.

Log lines in these results have already been redacted and cut to the line limit by the tools.
(`servers.loki_mcp.models` holds the Loki API's own types, which only the server reads.)
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from analysis.summary import SeriesSummary
from common.contracts.calls import ToolCaller, ToolContract
from common.contracts.results import BoundedResult, ToolResult

__all__ = [
    "ERROR_PATTERNS",
    "SERVER",
    "TOOLS",
    "AnalyzeLogsResult",
    "AnomalousWindow",
    "ErrorPatternsResult",
    "LabelsResult",
    "LogLine",
    "LogPattern",
    "LogQueryResult",
    "LogStream",
    "LokiMcp",
    "MetricQueryResult",
    "MetricSeriesResult",
    "PatternsResult",
    "RisingPattern",
    "StreamsResult",
]

SERVER = "loki-mcp"


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _empty(value: object) -> bool:
    return not value


class LogLine(BaseModel):
    """One line of a stream. What Loki attached to this line alone is sent only when there is some."""

    time: str = Field(description="RFC 3339, UTC, to the nanosecond.")
    line: str
    structured_metadata: dict[str, str] = Field(default_factory=dict, exclude_if=_empty)
    parsed: dict[str, str] = Field(
        default_factory=dict, exclude_if=_empty, description="Labels extracted by | json or | logfmt."
    )
    line_cut: bool = Field(
        default=False, exclude_if=_empty, description="True when the line was longer than the line limit."
    )


class LogStream(BaseModel):
    """A stream's lines. Structured metadata and parsed labels that every line of the stream has are said
    here once; a line's own fields hold the rest."""

    labels: dict[str, str]
    structured_metadata: dict[str, str] = Field(default_factory=dict, exclude_if=_empty)
    parsed: dict[str, str] = Field(default_factory=dict, exclude_if=_empty)
    lines: list[LogLine] = Field(description="In the query's direction.")


class LogQueryResult(BoundedResult):
    backend: str
    query: str
    start: str
    end: str
    direction: str
    # Grouped as Loki groups them: a stream's labels once, not on each of its lines.
    streams: list[LogStream] = Field(description="The lines of each stream; returned counts lines.")

    def in_order(self) -> list[tuple[dict[str, str], LogLine]]:
        """Every line with its stream's labels, in the query's direction across streams (newest first for
        backward). Times are one fixed-width format, so they sort as strings."""
        pairs = [(stream.labels, line) for stream in self.streams for line in stream.lines]
        return sorted(pairs, key=lambda pair: pair[1].time, reverse=self.direction == "backward")

    def render_text(self) -> str:
        # The labels every stream shares are said once, so a line carries only the ones that set it apart
        # (bench/result_size.py: a third shorter on 100 lines of one service).
        shared = dict(set.intersection(*(set(s.labels.items()) for s in self.streams))) if self.streams else {}
        out = [f"{self.returned} log lines for {self.query} ({self.start} .. {self.end}, {self.direction})"]
        out[0] += f", all {_labels(shared)}:" if shared else ":"
        for labels, line in self.in_order():
            own = {k: v for k, v in labels.items() if k not in shared}
            out.append(f"{line.time} {_labels(own)} {line.line}" if own else f"{line.time} {line.line}")
        return "\n".join([*out, self._footer()]).rstrip()


class MetricSeriesResult(BaseModel):
    labels: dict[str, str]
    summary: SeriesSummary
    points: list[tuple[str, float | None]] | None = Field(
        default=None, description="(RFC 3339 time, value) pairs; null when only the summary fits."
    )


class MetricQueryResult(BoundedResult):
    backend: str
    query: str
    start: str
    end: str
    step_seconds: float | None
    result_type: str
    series: list[MetricSeriesResult]

    def render_text(self) -> str:
        out = [f"{self.returned} series for {self.query} ({self.start} .. {self.end}):"]
        for series in self.series:
            s = series.summary
            out.append(f"{_labels(series.labels)} last={s.last} min={s.min} max={s.max} mean={s.mean}")
        return "\n".join([*out, self._footer()]).rstrip()


class LabelsResult(BoundedResult):
    backend: str
    label: str | None = Field(description="The label whose values these are; null for label names.")
    values: list[str]

    def render_text(self) -> str:
        what = f"values of {self.label}" if self.label else "label names"
        return "\n".join([f"{self.returned} {what}: {', '.join(self.values)}", self._footer()]).rstrip()


class StreamsResult(BoundedResult):
    backend: str
    streams: list[dict[str, str]]

    def render_text(self) -> str:
        return "\n".join([f"{self.returned} streams:", *map(_labels, self.streams), self._footer()]).rstrip()


class LogPattern(BaseModel):
    template_id: str
    template: str = Field(description="The line with its variable parts masked (<NUM>, <IP>, <UUID>, ...).")
    count: int
    share: float = Field(description="Fraction of the lines read that fit this template.")
    error_lines: int
    first_seen: str | None
    last_seen: str | None
    examples: list[str]


class PatternsResult(BoundedResult):
    backend: str
    query: str
    start: str
    end: str
    lines_read: int
    lines_in_window: int | None = Field(description="All lines the query matches in the window, when known.")
    patterns: list[LogPattern]

    def render_text(self) -> str:
        out = [f"{self.returned} templates in {self.lines_read} lines of {self.query} ({self.start} .. {self.end}):"]
        out += [f"{p.count:>7} {p.template_id}: {p.template}" for p in self.patterns]
        return "\n".join([*out, self._footer()]).rstrip()


class RisingPattern(BaseModel):
    template_id: str
    template: str
    baseline_count: int
    current_count: int
    baseline_per_minute: float
    current_per_minute: float
    new: bool = Field(description="Not seen at all in the baseline window.")
    score: float = Field(description="How improbable the rise is for the baseline rate (Poisson z-score).")
    is_error: bool
    first_seen: str | None
    examples: list[str]


class ErrorPatternsResult(BoundedResult):
    backend: str
    query: str
    start: str
    end: str
    baseline_start: str
    baseline_end: str
    lines_read: int
    baseline_lines_read: int
    patterns: list[RisingPattern]

    def render_text(self) -> str:
        out = [
            f"{self.returned} templates rose in {self.query} ({self.start} .. {self.end}) against "
            f"{self.baseline_start} .. {self.baseline_end}:"
        ]
        for p in self.patterns:
            change = "new" if p.new else f"{p.baseline_per_minute:.3g}/min before"
            out.append(f"  score {p.score:.1f}: {p.current_per_minute:.3g}/min ({change}) {p.template}")
            out += [f"    e.g. {example}" for example in p.examples[:1]]
        return "\n".join([*out, self._footer()]).rstrip()


class AnomalousWindow(BaseModel):
    start: str
    end: str
    lines: int
    expected: float = Field(description="Median lines per window of this size over the whole input.")
    score: float
    top_templates: list[str]


class AnalyzeLogsResult(ToolResult):
    source: str
    format: str
    lines: int
    lines_with_timestamp: int
    first_timestamp: str | None
    last_timestamp: str | None
    templates_total: int
    templates: list[LogPattern]
    error_clusters: list[LogPattern]
    anomalous_windows: list[AnomalousWindow]
    window_seconds: float | None
    limits_applied: list[str] = Field(default_factory=list)

    def render_text(self) -> str:
        out = [
            f"{self.source}: {self.lines} lines ({self.format}), {self.templates_total} templates, "
            f"{len(self.error_clusters)} error clusters, {len(self.anomalous_windows)} anomalous windows."
        ]
        out += [f"  error {p.count:>6} {p.template}" for p in self.error_clusters]
        out += [
            f"  window {w.start} .. {w.end}: {w.lines} lines (usual {w.expected:g})" for w in self.anomalous_windows
        ]
        out += [f"Limit: {note}" for note in self.limits_applied]
        return "\n".join(out)


QUERY_LOGS = ToolContract(SERVER, "loki_query_logs", LogQueryResult)
QUERY_METRICS = ToolContract(SERVER, "loki_query_metrics", MetricQueryResult)
LIST_LABELS = ToolContract(SERVER, "loki_list_labels", LabelsResult)
FIND_STREAMS = ToolContract(SERVER, "loki_find_streams", StreamsResult)
LOG_PATTERNS = ToolContract(SERVER, "loki_log_patterns", PatternsResult)
ERROR_PATTERNS = ToolContract(SERVER, "loki_error_patterns", ErrorPatternsResult)
ANALYZE_LOGS = ToolContract(SERVER, "loki_analyze_logs", AnalyzeLogsResult)
#: Every tool the server offers (tests/servers/test_output_schemas.py holds the server to it).
TOOLS = (QUERY_LOGS, QUERY_METRICS, LIST_LABELS, FIND_STREAMS, LOG_PATTERNS, ERROR_PATTERNS, ANALYZE_LOGS)


class LokiMcp:
    """The loki-mcp tools agents call, as typed calls; an argument left None is the tool's default."""

    def __init__(self, tools: ToolCaller) -> None:
        self._tools = tools

    async def list_labels(
        self,
        label: str | None = None,
        *,
        query: str | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
    ) -> LabelsResult:
        """The stream label names seen in start..end, or the values of `label` (of `query`'s streams, when given)."""
        return await LIST_LABELS.call(self._tools, label=label, query=query, start=start, end=end, limit=limit)

    async def error_patterns(
        self,
        query: str,
        *,
        start: str | None = None,
        end: str | None = None,
        baseline_start: str | None = None,
        baseline_end: str | None = None,
        limit: int | None = None,
    ) -> ErrorPatternsResult:
        """The error templates of `query`'s lines whose rate rose in start..end against the baseline window."""
        return await ERROR_PATTERNS.call(
            self._tools,
            query=query,
            start=start,
            end=end,
            baseline_start=baseline_start,
            baseline_end=baseline_end,
            limit=limit,
        )
