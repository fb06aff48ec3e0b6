"""Log streams of a scenario: each template's lines as a Poisson process at its `rate`.

Arrival times are exponential gaps drawn from the seed, within the line's `from`/`until` and
the history; placeholders are filled from the same seeded generator, and the line is stored as
its stream's `format` says (`scenarios.templates.format_line`). One push stream per `logs` entry,
its entries in time order with distinct nanosecond timestamps. With `until`, a line that runs to
`now` (no `until` of its own) carries on to `until`: the lines before `now` stay as they were, the
generator only drawing further.
"""

from __future__ import annotations

from datetime import datetime

from scenarios.spec import Scenario
from scenarios.templates import format_line, parse_template
from scenarios.timeline import Timeline, seeded
from servers.loki_mcp.models import PushEntry, PushStream

__all__ = ["log_lines"]


def log_lines(scenario: Scenario, now: datetime, *, until: datetime | None = None) -> list[PushStream]:
    timeline = Timeline.of(now, scenario.duration, scenario.step)
    until_ms = round(until.timestamp() * 1000) if until is not None else timeline.ms(0)
    streams: list[PushStream] = []
    for i, stream in enumerate(scenario.logs):
        timed: list[tuple[int, int, str]] = []
        for j, line in enumerate(stream.lines):
            rng = seeded(scenario.seed, "logs", i, j, line.template)
            template = parse_template(line.template)
            start = timeline.ms(max(-scenario.duration, line.from_ if line.from_ is not None else -scenario.duration))
            end = timeline.ms(line.until) if line.until is not None else until_ms
            at = start * 1_000_000
            end_ns = end * 1_000_000
            while True:
                at += max(1, round(rng.expovariate(line.rate) * 1e9))
                if at >= end_ns:
                    break
                timed.append((at, j, format_line(template.render(rng), stream.format)))
        timed.sort()
        entries: list[PushEntry] = []
        previous = 0
        for at, _, text in timed:
            # Loki keeps one of two entries with equal timestamp and line; keep every line.
            at = max(at, previous + 1)
            entries.append(PushEntry(at, text))
            previous = at
        streams.append(PushStream(dict(stream.labels), tuple(entries)))
    return streams
