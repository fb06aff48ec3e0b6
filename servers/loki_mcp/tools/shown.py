"""How log text leaves loki-mcp: secrets redacted, cut to the line limit, and the cut said."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from common.contracts.loki import LogLine, LogStream
from common.redaction import redact
from servers.loki_mcp.models import LogEntry

__all__ = ["log_streams", "shown"]


def shown(text: str, max_chars: int) -> str:
    """`text` redacted, and cut to `max_chars` with an ellipsis."""
    text = redact(text)
    return text if len(text) <= max_chars else text[:max_chars] + "…"


def log_streams(entries: Iterable[tuple[Mapping[str, str], LogEntry]], max_chars: int) -> list[LogStream]:
    """`entries` (each with its stream's labels) grouped by stream, in the order given: the stream of the
    first entry first, each stream's lines in their order."""
    grouped: dict[tuple[tuple[str, str], ...], tuple[Mapping[str, str], list[LogEntry]]] = {}
    for labels, entry in entries:
        grouped.setdefault(tuple(sorted(labels.items())), (labels, []))[1].append(entry)
    return [_stream(labels, stream, max_chars) for labels, stream in grouped.values()]


def _stream(labels: Mapping[str, str], entries: list[LogEntry], max_chars: int) -> LogStream:
    # Loki attaches structured metadata (e.g. detected_level) and parsed labels to each line; those the
    # whole stream shares are said once, as Loki's own uncategorised answer folds them into the labels.
    metadata = _shared([entry.structured_metadata for entry in entries])
    parsed = _shared([entry.parsed for entry in entries])
    return LogStream(
        labels=_redacted(labels),
        structured_metadata=_redacted(metadata),
        parsed=_redacted(parsed),
        lines=[_line(entry, metadata, parsed, max_chars) for entry in entries],
    )


def _shared(values: list[dict[str, str]]) -> dict[str, str]:
    """The items every one of `values` has."""
    return dict(set.intersection(*(set(value.items()) for value in values))) if values else {}


def _redacted(values: Mapping[str, str]) -> dict[str, str]:
    return {k: redact(v) for k, v in values.items()}


def _line(entry: LogEntry, metadata: dict[str, str], parsed: dict[str, str], max_chars: int) -> LogLine:
    text = redact(entry.line)
    cut = len(text) > max_chars
    return LogLine(
        time=_time(entry.timestamp_ns),
        line=text[:max_chars] + "…" if cut else text,
        structured_metadata=_redacted({k: v for k, v in entry.structured_metadata.items() if k not in metadata}),
        parsed=_redacted({k: v for k, v in entry.parsed.items() if k not in parsed}),
        line_cut=cut,
    )


def _time(ns: int) -> str:
    # Loki's nanoseconds kept whole (a datetime holds microseconds), and always nine digits, so that
    # times sort as strings.
    seconds, fraction = divmod(ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"
