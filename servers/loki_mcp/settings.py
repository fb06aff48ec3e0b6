"""Settings of loki-mcp (keys `LOKI_URL` and `LOKI_MCP_*`).

With no `LOKI_URL` (and no `LOKI_MCP_BACKENDS`) the server keeps logs itself: an SQLite store
under `SRE_DATA_DIR` that it serves as Loki's API at `/loki/api/v1/`, so pushes from Promtail,
Alloy or the scenario engine and the tools work the same as against a real Loki.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from analysis.line_limit import MAX_LINE_CHARS
from common.mcp.tools import GroupNames
from common.settings import (
    DEFAULT_DATA_DIR,
    Backends,
    ComponentSettings,
    FrozenModel,
    ServeSettings,
    SettingsSource,
    pop_backends,
)

__all__ = [
    "DEFAULT_MAX_LINE_CHARS",
    "DEFAULT_QUERY_TIMEOUT_SECONDS",
    "Limits",
    "LocalStore",
    "LokiMcpSettings",
]

PREFIX = "LOKI_MCP_"
# Loki refuses a log query whose limit is above its max_entries_limit_per_query (default 5000).
LOKI_MAX_LIMIT = 5000
DEFAULT_MAX_LINE_CHARS = MAX_LINE_CHARS
DEFAULT_QUERY_TIMEOUT_SECONDS = 30.0


class Limits(FrozenModel):
    """What one tool call may cost; every clamp applied is reported in the result."""

    max_query_length: int = Field(default=4096, ge=64, description="Longest LogQL expression accepted.")
    max_range_seconds: float = Field(
        default=24 * 3600,
        gt=0,
        description="Longest query window (default 24 h); a longer one keeps its end and says so.",
    )
    default_limit: int = Field(default=100, ge=1, description="Log lines returned when no limit is asked.")
    max_limit: int = Field(default=1000, ge=1, le=LOKI_MAX_LIMIT, description="Most log lines one call returns.")
    max_line_chars: int = Field(default=2000, ge=80, description="Longer log lines are cut to this many characters.")
    max_series: int = Field(default=200, ge=1, description="Most series a metric query returns.")
    max_points_returned: int = Field(
        default=2000, ge=10, description="Above this many points in total, metric results come as summaries."
    )
    max_bytes_scanned: int = Field(
        default=10 * 1024**3,
        ge=1,
        description="Refuse a query whose selector would read more than this (checked with /index/stats).",
    )
    analysis_max_lines: int = Field(
        default=20_000, ge=100, description="Most lines the pattern tools read from the backend per window."
    )
    max_list_items: int = Field(default=1000, ge=1, description="Largest page of labels, values or series.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Deadline of one tool call upstream.")
    max_response_bytes: int = Field(
        default=64_000_000, ge=10_000, description="Largest backend answer read; larger ones are dropped."
    )
    max_upload_bytes: int = Field(
        default=20_000_000, ge=1000, description="Largest log text loki_analyze_logs accepts inline or from a file."
    )


class LocalStore(FrozenModel):
    """The embedded log store, used when no Loki is configured."""

    path: Path = Field(default=Path(DEFAULT_DATA_DIR) / "logs.db", description="SQLite file (SRE_DATA_DIR/logs.db).")
    retention_hours: float = Field(default=168.0, gt=0, description="Entries older than this are deleted.")
    max_push_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Largest push body accepted.")
    max_line_chars: int = Field(
        default=DEFAULT_MAX_LINE_CHARS,
        ge=100,
        description="Longer pushed or ingested lines keep their start, cut to this many characters, and carry "
        "the structured metadata truncated_from (their length before).",
    )
    query_timeout_seconds: float = Field(
        default=DEFAULT_QUERY_TIMEOUT_SECONDS,
        gt=0,
        description="A query of the store that runs longer is stopped with an error.",
    )
    analysis_roots: tuple[Path, ...] = Field(
        default=(),
        description="Directories loki_analyze_logs may read files from; empty: file paths are refused.",
    )


#: query: log lines and log metrics; metadata: labels and streams; patterns: log templates and
#: those that rose; analysis: analysing a log file or text.
ToolGroup = Literal["query", "metadata", "patterns", "analysis"]


class LokiMcpSettings(ComponentSettings):
    component = "loki-mcp"
    named_groups = frozenset({"local"})

    backends: Backends = Field(default=(), description="Loki backends; empty: the embedded log store serves the tools.")
    limits: Limits = Field(default_factory=Limits)
    disabled_groups: Annotated[tuple[ToolGroup, ...], GroupNames] = Field(
        default=(),
        description="Tool groups not offered, space-separated: query (lines, metrics), metadata (labels, streams), "
        "patterns (templates, rising templates), analysis (a log file or text). A model pays for every tool listed.",
    )
    local: LocalStore
    serve: ServeSettings

    @property
    def uses_local_store(self) -> bool:
        return not self.backends

    @classmethod
    def outside_values(cls, source: SettingsSource, section: dict[str, Any]) -> dict[str, Any]:
        backends = pop_backends(section, source.get("LOKI_URL") or None, prefix=PREFIX, url_key="LOKI_URL")
        local = {"path": Path(source.get("SRE_DATA_DIR") or DEFAULT_DATA_DIR) / "logs.db"}
        return {**super().outside_values(source, section), "backends": backends, "local": local}
