"""What the Loki HTTP API answers, parsed: log streams, metric results, index statistics, patterns.

These are the backend-facing types of `servers.loki_mcp.client`; tool results are built from them.
Log timestamps stay nanosecond integers (Loki's own precision); metric timestamps are Unix seconds
as floats, as in Prometheus. Each `from_api` reads Loki's JSON and raises KeyError, TypeError or
ValueError on a shape it does not expect (the client turns those into `BackendFailed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

__all__ = [
    "CATEGORIZE_LABELS",
    "BuildInfo",
    "DetectedField",
    "DetectedLabel",
    "DrilldownLimits",
    "IndexStats",
    "LogEntry",
    "LogQueryResult",
    "LogStream",
    "MetricResult",
    "MetricSeries",
    "Pattern",
    "PushEntry",
    "PushStream",
    "expect",
    "str_map",
    "strings",
]

Direction = Literal["forward", "backward"]
CATEGORIZE_LABELS = "categorize-labels"

T = TypeVar("T")


def expect(value: Any, kind: type[T]) -> T:
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in expect(value or {}, dict).items()}


def strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in expect(value or [], list))


@dataclass(frozen=True)
class LogEntry:
    timestamp_ns: int
    line: str
    # Filled only when the answer is categorised (`categorize-labels`); otherwise Loki merges both
    # into the stream's labels and they cannot be told apart.
    structured_metadata: dict[str, str] = field(default_factory=dict)
    parsed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, value: Sequence[Any]) -> LogEntry:
        # [ts, line] or, categorised, [ts, line, {"structuredMetadata": {...}, "parsed": {...}}]
        categories = expect(value[2], dict) if len(value) > 2 else {}
        return cls(
            timestamp_ns=int(value[0]),
            line=expect(value[1], str),
            structured_metadata=str_map(categories.get("structuredMetadata")),
            parsed=str_map(categories.get("parsed")),
        )


@dataclass(frozen=True)
class LogStream:
    labels: dict[str, str]
    entries: tuple[LogEntry, ...]

    @classmethod
    def from_api(cls, item: Any) -> LogStream:
        return cls(labels=str_map(item["stream"]), entries=tuple(LogEntry.from_api(v) for v in item["values"]))


@dataclass(frozen=True)
class LogQueryResult:
    """The answer to a log query.

    Loki cuts a log query at `limit` entries without saying so; `truncated` is inferred from the
    count (entries returned == limit), so it can be true when exactly `limit` entries matched.
    """

    streams: tuple[LogStream, ...]
    limit: int
    direction: Direction
    categorized: bool = False
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Any, *, limit: int, direction: Direction, warnings: tuple[str, ...]) -> LogQueryResult:
        return cls(
            streams=tuple(LogStream.from_api(item) for item in expect(data, dict).get("result") or ()),
            limit=limit,
            direction=direction,
            categorized=CATEGORIZE_LABELS in (data.get("encodingFlags") or ()),
            warnings=warnings,
        )

    @property
    def entry_count(self) -> int:
        return sum(len(stream.entries) for stream in self.streams)

    @property
    def truncated(self) -> bool:
        return self.entry_count >= self.limit

    def merged(self) -> tuple[tuple[dict[str, str], LogEntry], ...]:
        """Every entry with its stream's labels, in the query's direction (newest first for backward)."""
        pairs = [(stream.labels, entry) for stream in self.streams for entry in stream.entries]
        pairs.sort(key=lambda pair: pair[1].timestamp_ns, reverse=self.direction == "backward")
        return tuple(pairs)


@dataclass(frozen=True)
class MetricSeries:
    labels: dict[str, str]
    # (unix_seconds, value); NaN and ±Inf are kept as float values.
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class MetricResult:
    """A metric query's answer: `vector` and `scalar` hold one point per series, `matrix` many."""

    result_type: Literal["vector", "matrix", "scalar"]
    series: tuple[MetricSeries, ...]
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Any, warnings: tuple[str, ...] = ()) -> MetricResult:
        kind = expect(data, dict).get("resultType")
        result = data.get("result")
        if kind == "matrix":
            series = tuple(
                MetricSeries(labels=str_map(item["metric"]), points=tuple(_point(p) for p in item["values"]))
                for item in result or ()
            )
        elif kind == "vector":
            series = tuple(
                MetricSeries(labels=str_map(item["metric"]), points=(_point(item["value"]),)) for item in result or ()
            )
        elif kind == "scalar":
            series = (MetricSeries(labels={}, points=(_point(result),)),)
        else:
            raise ValueError(f"unknown resultType {kind!r}")
        return cls(result_type=kind, series=series, warnings=warnings)


def _point(pair: Sequence[Any]) -> tuple[float, float]:
    # [unix_seconds, "value"]; float() reads Prometheus's "NaN", "+Inf" and "-Inf".
    return float(pair[0]), float(pair[1])


@dataclass(frozen=True)
class IndexStats:
    """What a selector would read. All zeros can mean "not yet flushed to storage", not "no data"."""

    streams: int
    chunks: int
    bytes: int
    entries: int

    @classmethod
    def from_api(cls, data: Any) -> IndexStats:
        body = expect(data, dict)
        return cls(**{key: int(body.get(key, 0)) for key in ("streams", "chunks", "bytes", "entries")})

    @property
    def empty(self) -> bool:
        return not (self.streams or self.chunks or self.bytes or self.entries)


@dataclass(frozen=True)
class Pattern:
    """A log template from Loki's pattern ingester (`<_>` marks a variable part)."""

    pattern: str
    level: str | None
    # (unix_seconds, matching lines in that step)
    samples: tuple[tuple[int, int], ...]

    @classmethod
    def from_api(cls, item: Any) -> Pattern:
        return cls(
            pattern=str(item["pattern"]),
            level=str(item["level"]) if item.get("level") else None,
            samples=tuple((int(ts), int(count)) for ts, count in item.get("samples") or ()),
        )

    @property
    def total(self) -> int:
        return sum(count for _, count in self.samples)


@dataclass(frozen=True)
class DetectedField:
    label: str
    type: str
    cardinality: int
    parsers: tuple[str, ...]
    json_path: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, item: Any) -> DetectedField:
        return cls(
            label=str(item["label"]),
            type=str(item.get("type", "")),
            cardinality=int(item.get("cardinality", 0)),
            parsers=strings(item.get("parsers")),
            json_path=strings(item.get("jsonPath")),
        )


@dataclass(frozen=True)
class DetectedLabel:
    label: str
    cardinality: int

    @classmethod
    def from_api(cls, item: Any) -> DetectedLabel:
        return cls(label=str(item["label"]), cardinality=int(item.get("cardinality", 0)))


@dataclass(frozen=True)
class BuildInfo:
    version: str
    revision: str
    branch: str
    go_version: str

    @classmethod
    def from_api(cls, data: Any) -> BuildInfo:
        return cls(
            version=str(data["version"]),
            revision=str(data.get("revision", "")),
            branch=str(data.get("branch", "")),
            go_version=str(data.get("goVersion", "")),
        )


@dataclass(frozen=True)
class DrilldownLimits:
    version: str
    pattern_ingester_enabled: bool
    limits: dict[str, Any]

    @classmethod
    def from_api(cls, data: Any) -> DrilldownLimits:
        return cls(
            version=str(data.get("version", "")),
            pattern_ingester_enabled=bool(data.get("pattern_ingester_enabled", False)),
            limits=expect(data.get("limits") or {}, dict),
        )


@dataclass(frozen=True)
class PushEntry:
    timestamp_ns: int
    line: str
    structured_metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PushStream:
    labels: dict[str, str]
    entries: tuple[PushEntry, ...]
