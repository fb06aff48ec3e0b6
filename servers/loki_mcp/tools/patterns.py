"""The `patterns` group: the templates a query's lines fall into, and those that rose against a baseline."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated

import anyio.to_thread
from pydantic import Field

from analysis.log_patterns import count_templates, rising_templates
from analysis.log_records import message_of
from analysis.templates import TemplateMiner
from common.contracts.loki import ErrorPatternsResult, PatternsResult, RisingPattern
from common.errors import BackendError, InputError
from common.mcp.backends import BackendTools
from common.mcp.bounds import bounds, clamp_limit, clamp_window
from common.mcp.tool_parameters import Backend, End, Limit, Start
from common.mcp.tools import tool
from common.timerange import TimeArgument, TimeRange, iso, parse_time, unix_ns
from servers.loki_mcp import guardrails
from servers.loki_mcp.analyze import pattern_result
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.models import MetricResult
from servers.loki_mcp.settings import LOKI_MAX_LIMIT, Limits
from servers.loki_mcp.tools.parameters import Query
from servers.loki_mcp.tools.shown import shown

__all__ = ["PatternTools"]

#: A line read for template mining: its time, message, raw line and labels (stream and parsed).
Entry = tuple[int, str, str, Mapping[str, str]]


class PatternTools(BackendTools[Limits, LokiClient]):
    group = "patterns"

    @tool("Log templates with counts")
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
        client = self.backends.pick(backend)
        query = guardrails.check_query(query, self.limits)
        window = clamp_window(TimeRange.parse(start, end), self.limits.max_range_seconds, notes)
        await guardrails.check_cost(client, query, window, self.limits, notes)
        entries = await self._read(client, query, window, notes)
        # Mining up to LOKI_MCP_ANALYSIS_MAX_LINES lines is CPU work: off the event loop.
        counts = await anyio.to_thread.run_sync(count_templates, TemplateMiner(), entries)
        total = await self._count(client, query, window)
        cap = clamp_limit(limit, self.limits.max_list_items, "templates", notes, default=50)
        ranked = sorted(counts.values(), key=lambda c: (-c.count, c.template_id))
        patterns = [pattern_result(c, len(entries), self._shown) for c in ranked[:cap]]
        return PatternsResult(
            backend=client.name,
            query=query,
            start=iso(window.start),
            end=iso(window.end),
            lines_read=len(entries),
            lines_in_window=total,
            patterns=patterns,
            **bounds(patterns, len(ranked), notes),
        )

    @tool("Log templates that rose against a baseline")
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
        client = self.backends.pick(backend)
        query = guardrails.check_query(query, self.limits)
        window = clamp_window(TimeRange.parse(start, end), self.limits.max_range_seconds, notes)
        base_end = parse_time(baseline_end, name="baseline_end") if baseline_end is not None else window.start
        base_start = (
            parse_time(baseline_start, name="baseline_start")
            if baseline_start is not None
            else max(0.0, base_end - window.seconds)
        )
        if base_start >= base_end:
            raise InputError(f"The baseline start ({baseline_start!r}) must be before its end ({baseline_end!r}).")
        baseline = clamp_window(
            TimeRange(base_start, base_end), self.limits.max_range_seconds, notes, what="baseline window"
        )
        both = TimeRange(min(baseline.start, window.start), window.end)
        await guardrails.check_cost(client, query, both, self.limits, notes)
        miner = TemplateMiner()
        baseline_entries = await self._read(client, query, baseline, notes)
        current_entries = await self._read(client, query, window, notes)
        before = await anyio.to_thread.run_sync(count_templates, miner, baseline_entries)
        now = await anyio.to_thread.run_sync(count_templates, miner, current_entries)
        rising = rising_templates(before, now, baseline_seconds=baseline.seconds, current_seconds=window.seconds)
        if errors_only:
            rising = [r for r in rising if r.is_error]
        cap = clamp_limit(limit, self.limits.max_list_items, "templates", notes, default=20)
        patterns = [
            RisingPattern(
                template_id=r.template_id,
                template=self._shown(r.template),
                baseline_count=r.baseline_count,
                current_count=r.current_count,
                baseline_per_minute=round(r.baseline_per_minute, 4),
                current_per_minute=round(r.current_per_minute, 4),
                new=r.new,
                score=r.score,
                is_error=r.is_error,
                first_seen=iso(r.first_seen_ns / 1e9) if r.first_seen_ns is not None else None,
                examples=[self._shown(line) for line in r.examples],
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
            **bounds(patterns, len(rising), notes),
        )

    def _shown(self, text: str) -> str:
        return shown(text, self.limits.max_line_chars)

    async def _read(self, client: LokiClient, query: str, window: TimeRange, notes: list[str]) -> list[Entry]:
        """The newest lines of the window, up to `analysis_max_lines`, paging backward through Loki's limit."""
        budget = self.limits.analysis_max_lines
        end_ns = unix_ns(window.end)
        start_ns = unix_ns(window.start)
        entries: list[Entry] = []
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
            result = await client.query(f"sum(count_over_time({query} [{seconds}s]))", time_ns=unix_ns(window.end))
        except BackendError:
            return None
        if not isinstance(result, MetricResult):
            return None
        return sum(int(series.points[-1][1]) for series in result.series if series.points)
