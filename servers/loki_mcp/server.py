"""loki-mcp: the MCP tools over Loki backends, or over the embedded log store when none is configured.

Tools are thin: check and bound the arguments (`guardrails`), call `LokiClient`, and shape the
answer; the template analysis lives in `analysis/`. Every log line leaves through `_line`, which
redacts secrets and cuts it to the line limit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from analysis.log_patterns import count_templates, rising_templates
from analysis.log_records import message_of
from analysis.summary import downsample, summarize
from analysis.templates import TemplateMiner
from common import __version__
from common.contracts.loki import (
    AnalyzeLogsResult,
    ErrorPatternsResult,
    LabelsResult,
    LogLine,
    MetricQueryResult,
    MetricSeriesResult,
    PatternsResult,
    RisingPattern,
    StreamsResult,
)
from common.contracts.loki import LogQueryResult as LogQueryToolResult
from common.errors import BackendError, BackendRejected, InputError, LimitExceeded
from common.mcp.tool_parameters import Backend, End, Limit, Start
from common.mcp.tools import CONVENTIONS, ToolGate, ToolSpec, build_tools, enabled
from common.metrics import ServerMetrics
from common.pagination import paginate
from common.redaction import redact
from common.timerange import TimeArgument, TimeRange, format_duration, iso, parse_duration, parse_time
from servers.loki_mcp import guardrails
from servers.loki_mcp.analyze import LogAnalyzer, pattern_result
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.models import LogEntry, MetricResult
from servers.loki_mcp.settings import LOKI_MAX_LIMIT, LokiMcpSettings

__all__ = ["SERVER_NAME", "LokiTools", "create_server"]

SERVER_NAME = "loki-mcp"
# Loki refuses a range query of more than 11 000 steps.
MAX_STEPS = 11_000
DEFAULT_STEPS = 240

Query = Annotated[
    str,
    Field(description='LogQL log query, e.g. {service="checkout"} |= "error" or {app="web"} | json | status >= 500.'),
]


class LokiTools:
    """The tools; each public coroutine is one MCP tool, its docstring the model's documentation."""

    def __init__(self, settings: LokiMcpSettings, clients: Mapping[str, LokiClient], analyzer: LogAnalyzer) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.clients = clients
        self.analyzer = analyzer

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
    ) -> LogQueryToolResult:
        """Read log lines matching a LogQL query, newest first.

        The stream selector must pick some streams ({service="x"}), not all. Add line filters (|= "text",
        |~ "regex") and parsers (| json, | logfmt) with label filters to narrow. At most `limit` lines
        (default 100, maximum 1000); secrets in lines are redacted.
        """
        notes: list[str] = []
        client = self._client(backend)
        query = guardrails.check_query(query, self.limits)
        window = guardrails.check_window(TimeRange.parse(start, end), self.limits)
        cap = guardrails.clamp_limit(limit, self.limits.default_limit, self.limits.max_limit, "lines", notes)
        await self._precheck(client, query, window, notes)
        result = await client.query_logs(
            query, start_ns=_ns(window.start), end_ns=_ns(window.end), limit=cap, direction=direction
        )
        lines = [self._line(labels, entry) for labels, entry in result.merged()]
        return LogQueryToolResult(
            backend=client.name,
            query=query,
            start=iso(window.start),
            end=iso(window.end),
            direction=direction,
            lines=lines,
            returned=len(lines),
            total=len(lines),
            truncated=result.truncated,
            limits_applied=notes,
            warnings=list(result.warnings),
        )

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
        step: Annotated[
            str | float | None,
            Field(description="Resolution such as '1m', or seconds; default: about 240 points over the window."),
        ] = None,
        limit: Limit = None,
        backend: Backend = None,
    ) -> MetricQueryResult:
        """Evaluate a LogQL metric query over a window: log volumes and rates per label set over time.

        Each series comes with a summary (min, max, mean, first, last, trend) and its points when they fit.
        """
        notes: list[str] = []
        client = self._client(backend)
        query = guardrails.check_query(query, self.limits)
        window = guardrails.check_window(TimeRange.parse(start, end), self.limits)
        chosen = _choose_step(window, step, notes)
        await self._precheck(client, query, window, notes)
        result = await client.query_metrics(query, start_ns=_ns(window.start), end_ns=_ns(window.end), step=chosen)
        cap = guardrails.clamp_limit(limit, self.limits.max_series, self.limits.max_series, "series", notes)
        series = self._series(result, cap, notes)
        return MetricQueryResult(
            backend=client.name,
            query=query,
            start=iso(window.start),
            end=iso(window.end),
            step_seconds=chosen,
            result_type=result.result_type,
            series=series,
            returned=len(series),
            total=len(result.series),
            truncated=len(result.series) > cap,
            limits_applied=notes,
            warnings=list(result.warnings),
        )

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
        cursor: Annotated[str | None, Field(description="The next_cursor of a previous call.")] = None,
        backend: Backend = None,
    ) -> LabelsResult:
        """List the stream label names, or the values of one label, seen in the window.

        Start here to learn which labels (service, namespace, level, ...) name the streams you need.
        """
        notes: list[str] = []
        client = self._client(backend)
        if query is not None:
            query = guardrails.check_query(query, self.limits)
        window = guardrails.check_window(TimeRange.parse(start, end), self.limits)
        start_ns, end_ns = _ns(window.start), _ns(window.end)
        if label is None:
            values = await client.labels(start_ns=start_ns, end_ns=end_ns, query=query)
        else:
            values = await client.label_values(label, start_ns=start_ns, end_ns=end_ns, query=query)
        cap = guardrails.clamp_limit(limit, self.limits.max_list_items, self.limits.max_list_items, "items", notes)
        page = paginate(sorted(values), limit=cap, cursor=cursor)
        return LabelsResult(
            backend=client.name,
            label=label,
            values=[redact(value) for value in page.items],
            returned=len(page.items),
            total=page.total,
            truncated=page.truncated,
            next_cursor=page.next_cursor,
            limits_applied=notes,
        )

    async def loki_find_streams(
        self,
        query: Annotated[str, Field(description='Stream selector, e.g. {namespace="prod", service=~"check.*"}.')],
        start: Start = "now-1h",
        end: End = "now",
        limit: Limit = None,
        cursor: Annotated[str | None, Field(description="The next_cursor of a previous call.")] = None,
        backend: Backend = None,
    ) -> StreamsResult:
        """List the log streams (label sets) a selector picks in the window."""
        notes: list[str] = []
        client = self._client(backend)
        query = guardrails.check_query(query, self.limits)
        window = guardrails.check_window(TimeRange.parse(start, end), self.limits)
        streams = await client.series([query], start_ns=_ns(window.start), end_ns=_ns(window.end))
        ordered = sorted(streams, key=lambda labels: sorted(labels.items()))
        cap = guardrails.clamp_limit(limit, self.limits.max_list_items, self.limits.max_list_items, "streams", notes)
        page = paginate(ordered, limit=cap, cursor=cursor)
        return StreamsResult(
            backend=client.name,
            streams=[{k: redact(v) for k, v in labels.items()} for labels in page.items],
            returned=len(page.items),
            total=page.total,
            truncated=page.truncated,
            next_cursor=page.next_cursor,
            limits_applied=notes,
        )

    async def loki_log_patterns(
        self,
        query: Query,
        start: Start = "now-1h",
        end: End = "now",
        limit: Limit = None,
        backend: Backend = None,
    ) -> PatternsResult:
        """Group the log lines of a query into templates (variable parts masked), with counts over the window.

        Use it to see what a service logs at a glance, most frequent templates first. Reads at most a
        bounded number of the newest lines; lines_read and lines_in_window say how much was seen.
        """
        notes: list[str] = []
        client = self._client(backend)
        query = guardrails.check_query(query, self.limits)
        window = guardrails.check_window(TimeRange.parse(start, end), self.limits)
        await self._precheck(client, query, window, notes)
        entries = await self._read(client, query, window, notes)
        # Mining up to LOKI_MCP_ANALYSIS_MAX_LINES lines is CPU work: off the event loop.
        counts = await anyio.to_thread.run_sync(count_templates, TemplateMiner(), entries)
        total = await self._count(client, query, window)
        cap = guardrails.clamp_limit(limit, 50, self.limits.max_list_items, "templates", notes)
        ranked = sorted(counts.values(), key=lambda c: (-c.count, c.template_id))
        patterns = [pattern_result(c, len(entries), self._text) for c in ranked[:cap]]
        return PatternsResult(
            backend=client.name,
            query=query,
            start=iso(window.start),
            end=iso(window.end),
            lines_read=len(entries),
            lines_in_window=total,
            patterns=patterns,
            returned=len(patterns),
            total=len(ranked),
            truncated=len(ranked) > cap,
            limits_applied=notes,
        )

    async def loki_error_patterns(
        self,
        query: Query,
        start: Start = "now-30m",
        end: End = "now",
        baseline_start: Annotated[
            TimeArgument | None,
            Field(description="Baseline window start; default: a window as long, just before `start`."),
        ] = None,
        baseline_end: Annotated[
            TimeArgument | None, Field(description="Baseline window end; default: `start`.")
        ] = None,
        errors_only: Annotated[
            bool, Field(description="Only templates whose lines are mostly errors (by level or wording).")
        ] = True,
        limit: Limit = None,
        backend: Backend = None,
    ) -> ErrorPatternsResult:
        """Find the log templates whose rate rose in a window against a baseline window, ranked.

        The first question of an incident: which errors are new or suddenly more frequent? Each template
        comes with its rate before and now, a score (how improbable the rise is), and example lines.
        """
        notes: list[str] = []
        client = self._client(backend)
        query = guardrails.check_query(query, self.limits)
        window = guardrails.check_window(TimeRange.parse(start, end), self.limits)
        base_end = parse_time(baseline_end, name="baseline_end") if baseline_end is not None else window.start
        base_start = (
            parse_time(baseline_start, name="baseline_start")
            if baseline_start is not None
            else max(0.0, base_end - window.seconds)
        )
        if base_start >= base_end:
            raise InputError(f"The baseline start ({baseline_start!r}) must be before its end ({baseline_end!r}).")
        baseline = guardrails.check_window(TimeRange(base_start, base_end), self.limits)
        await self._precheck(client, query, TimeRange(min(baseline.start, window.start), window.end), notes)
        miner = TemplateMiner()
        baseline_entries = await self._read(client, query, baseline, notes)
        current_entries = await self._read(client, query, window, notes)
        before = await anyio.to_thread.run_sync(count_templates, miner, baseline_entries)
        now = await anyio.to_thread.run_sync(count_templates, miner, current_entries)
        rising = rising_templates(before, now, baseline_seconds=baseline.seconds, current_seconds=window.seconds)
        if errors_only:
            rising = [r for r in rising if r.is_error]
        cap = guardrails.clamp_limit(limit, 20, self.limits.max_list_items, "templates", notes)
        patterns = [
            RisingPattern(
                template_id=r.template_id,
                template=self._text(r.template),
                baseline_count=r.baseline_count,
                current_count=r.current_count,
                baseline_per_minute=round(r.baseline_per_minute, 4),
                current_per_minute=round(r.current_per_minute, 4),
                new=r.new,
                score=r.score,
                is_error=r.is_error,
                first_seen=iso(r.first_seen_ns / 1e9) if r.first_seen_ns is not None else None,
                examples=[self._text(line) for line in r.examples],
            )
            for r in rising[:cap]
        ]
        return ErrorPatternsResult(
            backend=client.name,
            query=query,
            start=iso(window.start),
            end=iso(window.end),
            baseline_start=iso(baseline.start),
            baseline_end=iso(baseline.end),
            lines_read=len(current_entries),
            baseline_lines_read=len(baseline_entries),
            patterns=patterns,
            returned=len(patterns),
            total=len(rising),
            truncated=len(rising) > cap,
            limits_applied=notes,
        )

    async def loki_analyze_logs(
        self,
        text: Annotated[str | None, Field(description="Log text to analyse (uploaded content).")] = None,
        path: Annotated[
            str | None, Field(description="A log file on the server, inside a directory the server allows.")
        ] = None,
        format: Annotated[
            Literal["auto", "jsonl", "logfmt", "csv", "plain"],
            Field(description="The log format; 'auto' detects JSON lines, logfmt, CSV or plain text."),
        ] = "auto",
        limit: Limit = None,
    ) -> AnalyzeLogsResult:
        """Analyse a log file or pasted log text without any Loki: templates, error clusters, anomalous windows.

        Give exactly one of `text` or `path`. Formats are detected; timestamps are read from the lines
        when present, and windows whose volume departs from the usual are reported.
        """
        notes: list[str] = []
        cap = guardrails.clamp_limit(limit, 20, self.limits.max_list_items, "templates", notes)
        # Mining up to LOKI_MCP_MAX_UPLOAD_BYTES of text is CPU work: off the event loop, which keeps serving.
        return await anyio.to_thread.run_sync(
            functools.partial(
                self.analyzer.analyze, text=text, path=path, fmt=format, limit=cap, notes=notes, render=self._text
            )
        )

    def specs(self) -> list[ToolSpec]:
        specs = [
            ToolSpec(self.loki_query_logs, "Query Loki log lines", group="query"),
            ToolSpec(self.loki_query_metrics, "Query Loki log metrics over a time range", group="query"),
            ToolSpec(self.loki_list_labels, "List Loki label names or values", group="metadata"),
            ToolSpec(self.loki_find_streams, "Find Loki log streams", group="metadata"),
            ToolSpec(self.loki_log_patterns, "Log templates with counts", group="patterns"),
            ToolSpec(self.loki_error_patterns, "Log templates that rose against a baseline", group="patterns"),
            ToolSpec(self.loki_analyze_logs, "Analyse a log file or text", open_world=False, group="analysis"),
        ]
        return enabled(specs, self.settings.disabled_groups)

    # --- helpers -------------------------------------------------------------------------------

    def _client(self, backend: str | None) -> LokiClient:
        if backend is None:
            return next(iter(self.clients.values()))
        try:
            return self.clients[backend]
        except KeyError:
            raise InputError(f"Unknown backend {backend!r}; configured backends: {', '.join(self.clients)}.") from None

    def _text(self, line: str) -> str:
        line = redact(line)
        return line if len(line) <= self.limits.max_line_chars else line[: self.limits.max_line_chars] + "…"

    def _line(self, labels: Mapping[str, str], entry: LogEntry) -> LogLine:
        text = redact(entry.line)
        cut = len(text) > self.limits.max_line_chars
        return LogLine(
            timestamp=iso(entry.timestamp_ns / 1e9),
            timestamp_ns=str(entry.timestamp_ns),
            labels={k: redact(v) for k, v in labels.items()},
            line=text[: self.limits.max_line_chars] + "…" if cut else text,
            structured_metadata={k: redact(v) for k, v in entry.structured_metadata.items()},
            parsed={k: redact(v) for k, v in entry.parsed.items()},
            line_cut=cut,
        )

    async def _precheck(self, client: LokiClient, query: str, window: TimeRange, notes: list[str]) -> None:
        """Refuse a query whose selectors would read more than `max_bytes_scanned`, per /index/stats."""
        total = 0
        for matchers in guardrails.stream_selectors(query):
            try:
                stats = await client.index_stats(
                    guardrails.selector_text(matchers), start_ns=_ns(window.start), end_ns=_ns(window.end)
                )
            except BackendRejected:
                notes.append("cost pre-check skipped: the backend has no /index/stats")
                return
            total += stats.bytes
        if total > self.limits.max_bytes_scanned:
            raise LimitExceeded(
                f"The query would read about {_size(total)} of logs in {format_duration(window.seconds)}, "
                f"more than the {_size(self.limits.max_bytes_scanned)} allowed (LOKI_MCP_MAX_BYTES_SCANNED). "
                "Use a more selective stream selector or a shorter window."
            )

    async def _read(
        self, client: LokiClient, query: str, window: TimeRange, notes: list[str]
    ) -> list[tuple[int, str, str, Mapping[str, str]]]:
        """The newest lines of the window, up to `analysis_max_lines`, paging backward through Loki's limit."""
        budget = self.limits.analysis_max_lines
        end_ns = _ns(window.end)
        start_ns = _ns(window.start)
        entries: list[tuple[int, str, str, Mapping[str, str]]] = []
        while budget > 0 and end_ns > start_ns:
            page = min(budget, LOKI_MAX_LIMIT)
            result = await client.query_logs(query, start_ns=start_ns, end_ns=end_ns, limit=page, direction="backward")
            merged = result.merged()
            for labels, entry in merged:
                entries.append((entry.timestamp_ns, message_of(entry.line), entry.line, {**labels, **entry.parsed}))
            budget -= len(merged)
            if not result.truncated or not merged:
                break
            # Loki's end is exclusive: the next page ends at the oldest entry read. Entries sharing
            # that nanosecond with it are read again, so drop them from this page first.
            oldest = merged[-1][1].timestamp_ns
            while entries and entries[-1][0] == oldest:
                entries.pop()
                budget += 1
            end_ns = oldest
            if budget <= 0:
                notes.append(
                    f"read the newest {len(entries)} lines of {iso(window.start)} .. {iso(window.end)} only "
                    "(LOKI_MCP_ANALYSIS_MAX_LINES)"
                )
        return entries

    async def _count(self, client: LokiClient, query: str, window: TimeRange) -> int | None:
        """All lines the log query matches in the window, or None when the backend cannot say."""
        seconds = max(1, math.ceil(window.seconds))
        try:
            result = await client.query(f"sum(count_over_time({query} [{seconds}s]))", time_ns=_ns(window.end))
        except BackendError:
            return None
        if not isinstance(result, MetricResult):
            return None
        return sum(int(series.points[-1][1]) for series in result.series if series.points)

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


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _choose_step(window: TimeRange, step: str | float | None, notes: list[str]) -> float:
    if step is None:
        return max(1.0, math.ceil(window.seconds / DEFAULT_STEPS))
    seconds = parse_duration(step)
    if seconds <= 0:
        raise InputError(f"Invalid step {step!r}: it must be positive, such as '30s' or '5m'.")
    least = math.ceil(window.seconds / MAX_STEPS)
    if seconds < least:
        notes.append(
            f"step raised from {format_duration(seconds)} to {format_duration(least)} (at most {MAX_STEPS} steps)"
        )
        return float(least)
    return seconds


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def create_server(
    settings: LokiMcpSettings,
    clients: Mapping[str, LokiClient],
    *,
    analyzer: LogAnalyzer,
    metrics: ServerMetrics | None = None,
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
) -> MCPServer[Any]:
    tools = build_tools(LokiTools(settings, clients, analyzer).specs())
    backends = ", ".join(f"{name} ({client.upstream.url})" for name, client in clients.items())
    return MCPServer(
        SERVER_NAME,
        title="Loki",
        version=__version__,
        instructions=(
            "Read-only access to logs through LogQL: log lines, log metrics, label discovery, log templates, "
            "templates that rose against a baseline, and analysis of a log file or text. "
            f"Backends (`backend`): {backends}; the first is the default. "
            "Start with loki_list_labels to learn the stream labels, then loki_error_patterns or loki_query_logs "
            'with a selective selector such as {service="checkout"}. Secrets in lines are redacted. '
            f"{CONVENTIONS}"
        ),
        tools=tools,
        middleware=[ToolGate(tools, metrics)],
        token_verifier=token_verifier,
        auth=auth,
    )
