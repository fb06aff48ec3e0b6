"""How log text leaves loki-mcp: secrets redacted, cut to the line limit, and the cut said."""

from __future__ import annotations

from collections.abc import Mapping

from common.contracts.loki import LogLine
from common.redaction import redact
from common.timerange import iso
from servers.loki_mcp.models import LogEntry

__all__ = ["log_line", "shown"]


def shown(text: str, max_chars: int) -> str:
    """`text` redacted, and cut to `max_chars` with an ellipsis."""
    text = redact(text)
    return text if len(text) <= max_chars else text[:max_chars] + "…"


def log_line(labels: Mapping[str, str], entry: LogEntry, max_chars: int) -> LogLine:
    text = redact(entry.line)
    cut = len(text) > max_chars
    return LogLine(
        timestamp=iso(entry.timestamp_ns / 1e9),
        timestamp_ns=str(entry.timestamp_ns),
        labels={k: redact(v) for k, v in labels.items()},
        line=text[:max_chars] + "…" if cut else text,
        structured_metadata={k: redact(v) for k, v in entry.structured_metadata.items()},
        parsed={k: redact(v) for k, v in entry.parsed.items()},
        line_cut=cut,
    )
