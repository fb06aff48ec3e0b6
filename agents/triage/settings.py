"""Settings of the triage agent (keys `TRIAGE_*`, plus the shared `SRE_*` serving keys).

The MCP servers are found in the registry by name; `TRIAGE_<SERVER>_URL` (for example
`TRIAGE_PROMETHEUS_MCP_URL`) skips the lookup. Triage calls them with its own OAuth client
(`SRE_CLIENT_*`), never with a caller's token.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from common.agents.pipeline import PipelineSettings
from common.investigation.identity import ROLES, LabelAliases, checked_aliases
from common.investigation.settings import InvestigationSettings

__all__ = ["SERVERS", "TriageSettings"]

#: The MCP servers triage reads, by registry name.
SERVERS = ("prometheus-mcp", "loki-mcp", "controlplane-mcp")


class TriageSettings(PipelineSettings):
    component = "triage"

    lookback_seconds: float = Field(
        default=6 * 3600.0, ge=600, le=7 * 86400, description="How far back signals and changes are read."
    )
    step_seconds: float = Field(default=60.0, ge=5, le=3600, description="Resolution of the signals read.")
    max_dependencies: int = Field(default=6, ge=0, le=50, description="Dependencies examined, at most.")
    source_timeout_seconds: float = Field(default=20.0, gt=0, description="Deadline of one MCP call.")
    signals_file: Path | None = Field(
        default=None,
        description="Signal catalogue (TOML), used alone; unset: the bundled profiles whose metrics Prometheus has.",
    )
    label_aliases: str | None = Field(
        default=None,
        description=(
            "Extra label names by role, for a cluster whose alerts and series name workloads their own way: "
            "`role=label,label;role=...`, e.g. `service=team_service;namespace=k8s_ns`. Roles: "
            f"{', '.join(ROLES)}, namespace; `object_exporter=` and `node_exporter=` add jobs whose series "
            "describe other objects (as kube-state-metrics') or their host (as node-exporter's)."
        ),
    )
    record_analyses: bool = Field(default=True, description="Record each report in the control plane (analyses).")
    prometheus_mcp_url: str | None = Field(default=None, description="prometheus-mcp's /mcp URL; unset: registry.")
    loki_mcp_url: str | None = Field(default=None, description="loki-mcp's /mcp URL; unset: registry.")
    controlplane_mcp_url: str | None = Field(default=None, description="controlplane-mcp's /mcp URL; unset: registry.")

    _aliases_read = field_validator("label_aliases")(checked_aliases)

    @property
    def aliases(self) -> LabelAliases:
        return LabelAliases.parse(self.label_aliases or "")

    @property
    def investigation(self) -> InvestigationSettings:
        return InvestigationSettings(
            lookback_seconds=self.lookback_seconds,
            step_seconds=self.step_seconds,
            max_dependencies=self.max_dependencies,
        )

    def server_urls(self) -> dict[str, str]:
        urls = {
            "prometheus-mcp": self.prometheus_mcp_url,
            "loki-mcp": self.loki_mcp_url,
            "controlplane-mcp": self.controlplane_mcp_url,
        }
        return {name: url for name, url in urls.items() if url}
