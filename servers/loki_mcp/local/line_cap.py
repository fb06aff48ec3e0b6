"""The longest line the embedded store keeps, for pushes and `sre logs ingest` alike.

A line over `max_chars` keeps its start (where a log line says what happened) and carries the
structured metadata `truncated_from`, its length in characters before the cut, so a query shows
that it was cut and `| truncated_from != ""` finds every such line. A 50 MB line is then a few
hundred KB in the store, and a reader that never meets a newline (`/dev/zero`) holds no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from servers.loki_mcp.models import PushEntry, PushStream

__all__ = ["TRUNCATED_FROM", "cap_streams", "truncated"]

TRUNCATED_FROM = "truncated_from"


def truncated(entry: PushEntry, original_chars: int) -> PushEntry:
    """`entry` (already cut) marked as cut from a line of `original_chars` characters."""
    return replace(entry, structured_metadata={**entry.structured_metadata, TRUNCATED_FROM: str(original_chars)})


def cap_streams(streams: Sequence[PushStream], max_chars: int) -> tuple[list[PushStream], int]:
    """`streams` with every line over `max_chars` cut and marked, and how many were cut."""
    cut = 0
    capped = []
    for stream in streams:
        if all(len(entry.line) <= max_chars for entry in stream.entries):
            capped.append(stream)
            continue
        entries = []
        for entry in stream.entries:
            if len(entry.line) > max_chars:
                cut += 1
                entry = truncated(replace(entry, line=entry.line[:max_chars]), len(entry.line))
            entries.append(entry)
        capped.append(replace(stream, entries=tuple(entries)))
    return capped, cut
