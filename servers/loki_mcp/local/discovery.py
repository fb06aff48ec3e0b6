"""What Loki's distributor adds to pushed streams: `service_name` and `detected_level`.

With Loki's default limits (`discover_service_name`, `discover_log_levels`), a stream without
`service_name` gets the value of the first label of `SERVICE_NAME_LABELS` it has (else
`unknown_service`), and every entry gets a `detected_level` structured metadata: the stream's
level label, else a level field of the structured metadata or of a JSON or logfmt line, else a
level word in the line, else `unknown`. Applying this on push makes answers of the embedded store
carry the labels Loki's would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from analysis.log_records import LEVELS, level_word, normalize_level
from analysis.logfmt import is_logfmt, parse_logfmt
from servers.loki_mcp.models import PushEntry, PushStream

__all__ = ["LEVEL_FIELDS", "SERVICE_NAME_LABELS", "discover"]

SERVICE_NAME_LABELS = (
    *("service", "app", "application", "app_name", "name", "app_kubernetes_io_name", "container"),
    *("container_name", "k8s_container_name", "component", "workload", "job", "k8s_job_name"),
)
LEVEL_FIELDS = (
    *("level", "LEVEL", "Level", "log.level", "severity", "SEVERITY", "Severity", "SeverityText"),
    *("lvl", "LVL", "Lvl", "severity_text", "Severity_Text", "SEVERITY_TEXT"),
)
_DETECTED_LEVEL = "detected_level"


def discover(streams: Sequence[PushStream]) -> list[PushStream]:
    return [_stream(stream) for stream in streams]


def _stream(stream: PushStream) -> PushStream:
    labels = dict(stream.labels)
    if "service_name" not in labels:
        labels["service_name"] = next((labels[n] for n in SERVICE_NAME_LABELS if labels.get(n)), "unknown_service")
    stream_level = next((labels[n] for n in LEVEL_FIELDS if labels.get(n)), None)
    entries = tuple(_entry(entry, stream_level) for entry in stream.entries)
    return PushStream(labels=labels, entries=entries)


def _entry(entry: PushEntry, stream_level: str | None) -> PushEntry:
    if _DETECTED_LEVEL in entry.structured_metadata:
        return entry
    level = stream_level or _field(entry.structured_metadata) or _from_line(entry.line)
    metadata = {**entry.structured_metadata, _DETECTED_LEVEL: _normalise(level)}
    return PushEntry(timestamp_ns=entry.timestamp_ns, line=entry.line, structured_metadata=metadata)


def _field(fields: Mapping[str, object]) -> str | None:
    return next((str(fields[n]) for n in LEVEL_FIELDS if isinstance(fields.get(n), str) and fields[n]), None)


def _from_line(line: str) -> str | None:
    if line.startswith("{"):
        try:
            document = json.loads(line)
        except ValueError:
            document = None
        if isinstance(document, dict) and (found := _field(document)):
            return found
    elif is_logfmt(line) and (found := _field(parse_logfmt(line))):
        return found
    return level_word(line)


def _normalise(level: str | None) -> str:
    normal = normalize_level(level) if level else None
    return normal if normal in LEVELS else "unknown"
