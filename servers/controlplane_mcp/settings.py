"""Settings of controlplane-mcp (keys `CONTROLPLANE_URL` and `CONTROLPLANE_MCP_*`).

The server calls the Control Plane API with its own OAuth client (`SRE_CLIENT_*`, tokens whose
audience is the control plane's URL), or with a static `CONTROLPLANE_MCP_BEARER_TOKEN` for a
team's own control plane that issues those. A caller's token is never passed on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from common.components import COMPONENTS
from common.errors import ConfigError
from common.mcp.tools import GroupNames
from common.scopes import CONTROLPLANE_READ, CONTROLPLANE_WRITE
from common.settings import (
    ComponentSettings,
    FrozenModel,
    ServeSettings,
    SettingsSource,
    Upstream,
    build,
    pop_backends,
)

__all__ = ["DEFAULT_CONTROLPLANE_URL", "ControlPlaneMcpSettings", "Limits"]

DEFAULT_CONTROLPLANE_URL = f"http://127.0.0.1:{COMPONENTS['controlplane'].port}"
PREFIX = "CONTROLPLANE_MCP_"
#: inventory: resources, alert rules, automation executions; changes: changes and deployment
#: history; incidents: incidents and recording an analysis; actions: restart, rollback, scale,
#: acknowledge, resolve, and reading an approval.
ToolGroup = Literal["inventory", "changes", "incidents", "actions"]


class Limits(FrozenModel):
    max_list_items: int = Field(default=100, ge=1, le=500, description="Most items one list tool returns.")
    max_range_seconds: float = Field(
        default=31 * 86400, gt=0, description="Longest history window; a longer one keeps its end and says so."
    )
    timeout_seconds: float = Field(default=15.0, gt=0, description="Deadline of one call to the control plane.")
    max_response_bytes: int = Field(default=16_000_000, ge=10_000, description="Largest answer read.")


class ControlPlaneMcpSettings(ComponentSettings):
    component = "controlplane-mcp"

    backend: Upstream
    token_scopes: tuple[str, ...] = Field(
        default=(CONTROLPLANE_READ, CONTROLPLANE_WRITE),
        description="The control plane scopes this server's own token holds, when the authorization server's token "
        "response does not list them (always, for CONTROLPLANE_MCP_BEARER_TOKEN): only the operations they allow "
        "are offered as tools. Space-separated.",
    )
    read_only: bool = Field(default=False, description="Hide the write tools (restart, rollback, scale, ...).")
    operations: bool = Field(
        default=False,
        description="Also expose the control plane's further OpenAPI operations as tools (writes as its write "
        "policy says: scope only, or approval-gated). Off by default: the reference API's add about 11,000 "
        "characters to every conversation's tool list.",
    )
    disabled_groups: Annotated[tuple[ToolGroup, ...], GroupNames] = Field(
        default=(),
        description="Curated tool groups not offered, space-separated: inventory (resources, alert rules, "
        "automation), changes (changes, deployments), incidents (incidents, recording an analysis), actions "
        "(restart, rollback, scale, acknowledge, resolve, approvals). A model pays for every tool listed.",
    )
    limits: Limits = Field(default_factory=Limits)
    serve: ServeSettings

    @field_validator("token_scopes", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # OAuth writes a list of scopes space-separated (RFC 6749 3.3).
        return value.split() if isinstance(value, str) else value

    @classmethod
    def outside_values(cls, source: SettingsSource, section: dict[str, Any]) -> dict[str, Any]:
        url = source.get("CONTROLPLANE_URL") or DEFAULT_CONTROLPLANE_URL
        backends = pop_backends(section, url, prefix=PREFIX, url_key="CONTROLPLANE_URL")
        if len(backends) != 1:
            raise ConfigError("controlplane-mcp talks to one control plane: set CONTROLPLANE_URL, not a list.")
        backend = build(Upstream, {**backends[0], "name": "controlplane"}, prefix=PREFIX)
        return {**super().outside_values(source, section), "backend": backend}
