"""Settings of prometheus-mcp (keys `PROMETHEUS_URL` and `PROMETHEUS_MCP_*`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from common.mcp.tools import GroupNames
from common.settings import Backends, ComponentSettings, FrozenModel, ServeSettings, SettingsSource, pop_backends

__all__ = ["DEFAULT_PROMETHEUS_URL", "Limits", "PrometheusMcpSettings", "ToolGroup"]

DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
# Prometheus refuses range queries of more than 11 000 points per series.
PROMETHEUS_MAX_POINTS = 11_000
#: query: instant and range queries; metadata: labels, series, metric metadata and scrape targets;
#: alerts: active alerts and rules; analysis: the anomaly scan.
ToolGroup = Literal["query", "metadata", "alerts", "analysis"]


class Limits(FrozenModel):
    """What one tool call may cost; every clamp applied is reported in the result."""

    max_query_length: int = Field(default=4096, ge=64, description="Longest PromQL expression accepted.")
    max_range_seconds: float = Field(
        default=31 * 86400, gt=0, description="Longest window; a longer one keeps its end and says so."
    )
    max_points_per_series: int = Field(
        default=PROMETHEUS_MAX_POINTS,
        ge=10,
        le=PROMETHEUS_MAX_POINTS,
        description="Most points per series in a range query; the step is raised to respect it.",
    )
    default_points_per_series: int = Field(default=240, ge=10, description="Resolution when no step is given.")
    max_series: int = Field(default=200, ge=1, description="Most series returned by one call.")
    max_points_returned: int = Field(
        default=2000, ge=10, description="Above this many points in total, range results come as summaries."
    )
    max_list_items: int = Field(default=1000, ge=1, description="Largest page of labels, series or targets.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Deadline of one tool call upstream.")
    max_response_bytes: int = Field(
        default=64_000_000, ge=10_000, description="Largest backend answer read; larger ones are dropped."
    )
    scan_max_series: int = Field(default=500, ge=1, description="Most series the anomaly scan examines.")


class PrometheusMcpSettings(ComponentSettings):
    component = "prometheus-mcp"

    backends: Backends = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)
    disabled_groups: Annotated[tuple[ToolGroup, ...], GroupNames] = Field(
        default=(),
        description="Tool groups not offered, space-separated: query, metadata (labels, series, metric metadata, "
        "targets), alerts (alerts, rules), analysis (anomaly scan). A model pays for every tool listed.",
    )
    serve: ServeSettings

    @classmethod
    def outside_values(cls, source: SettingsSource, section: dict[str, Any]) -> dict[str, Any]:
        url = source.get("PROMETHEUS_URL") or DEFAULT_PROMETHEUS_URL
        backends = pop_backends(section, url, prefix="PROMETHEUS_MCP_", url_key="PROMETHEUS_URL")
        return {**super().outside_values(source, section), "backends": backends}
