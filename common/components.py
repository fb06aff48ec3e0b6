"""The platform's components, each declared once: what `sre serve`, `sre up`, provisioning, the
configuration reference and the README's component table are built from.

A record names its entry point as a module path and nothing here imports it: `common` stays the
kernel everything else imports, and `sre --help` does not load every server to list them. Each
component's settings take their default port from its record. Adding an agent or a server
means adding its package and its record below.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from common.scopes import (
    AGENTS_INVOKE,
    CONTROLPLANE_ADMIN,
    CONTROLPLANE_READ,
    CONTROLPLANE_WRITE,
    LOGS_READ,
    LOGS_WRITE,
    METRICS_READ,
    REGISTRY_ADMIN,
    REGISTRY_WRITE,
)

if TYPE_CHECKING:
    # Only for annotations: common.settings takes the registry's default URL from these records.
    from common.settings import ComponentSettings, SettingsSource

__all__ = ["COMPONENTS", "Component", "Kind"]

Serve = Callable[[Literal["stdio", "http"], "SettingsSource"], Awaitable[None]]

#: `registry`: discovery and the token issuer; `service`: an HTTP API that checks tokens but does not register
#: (the registry lists it as a token audience); `mcp-server`: MCP over stdio and HTTP at `/mcp`, registered;
#: `agent`: A2A, registered.
Kind = Literal["registry", "service", "mcp-server", "agent"]


@dataclass(frozen=True)
class Component:
    name: str
    kind: Kind
    port: int
    #: Module with `async def serve(transport, source)`.
    module: str
    #: `module:Class` of its settings model, a `common.settings.ComponentSettings`.
    settings: str
    summary: str
    #: The scopes its endpoints check.
    serves: tuple[str, ...]
    #: The scopes its own client needs to call others, besides registering itself.
    calls: tuple[str, ...] = ()
    #: Components that must be ready before it starts (`sre up` starts it in a later wave).
    after: tuple[str, ...] = ("registry",)

    @property
    def registers(self) -> bool:
        """MCP servers and agents register themselves, under their own name, with their own client."""
        return self.kind in ("mcp-server", "agent")

    @property
    def stdio(self) -> bool:
        return self.kind == "mcp-server"

    @property
    def client_scopes(self) -> tuple[str, ...]:
        """Its own OAuth client's scopes; empty when it calls no one (no client is provisioned)."""
        return ((REGISTRY_WRITE,) if self.registers else ()) + self.calls

    @property
    def audience_path(self) -> str:
        """Appended to its base URL, the audience of tokens for it: an MCP server is known by its `/mcp`."""
        return "/mcp" if self.kind == "mcp-server" else ""

    @property
    def prefix(self) -> str:
        """Of its settings keys: `prometheus-mcp` reads `PROMETHEUS_MCP_*`."""
        return self.name.upper().replace("-", "_") + "_"

    def settings_section(self, source: SettingsSource) -> dict[str, Any]:
        """Its settings keys, prefix removed (`PROMETHEUS_MCP_MAX_SERIES` -> `max_series`), except those that are
        not its own though they carry its prefix: `<PREFIX>URL`, where clients find it (`ROUTER_URL` for
        `sre scenario run`), and another component's whose prefix extends its own (`CONTROLPLANE_MCP_*` are
        controlplane-mcp's, not the control plane's)."""
        others = tuple(
            c.prefix[len(self.prefix) :].lower()
            for c in COMPONENTS.values()
            if c is not self and c.prefix.startswith(self.prefix)
        )
        section = source.section(self.prefix)
        return {key: value for key, value in section.items() if key != "url" and not key.startswith(others)}

    def settings_model(self) -> type[ComponentSettings]:
        """Its settings model, imported only now."""
        module, _, name = self.settings.partition(":")
        model: type[ComponentSettings] = getattr(importlib.import_module(module), name)
        return model

    def load_settings(self, source: SettingsSource) -> ComponentSettings:
        """Its settings built from `source`; ConfigError when they are invalid."""
        return self.settings_model().from_source(source)

    def serve_function(self) -> Serve:
        """Its entry point, imported only now: only the component being started is loaded."""
        serve: Serve = importlib.import_module(self.module).serve
        return serve


COMPONENTS: Mapping[str, Component] = {
    c.name: c
    for c in (
        Component(
            "registry",
            "registry",
            8700,
            "registry.__main__",
            "registry.settings:RegistrySettings",
            "Finds agents and MCP servers (`/agents`, `/servers`, `/search`); embedded OAuth2 authorization server "
            "(`/oauth/token`, client credentials, RFC 9068 tokens)",
            serves=(REGISTRY_WRITE, REGISTRY_ADMIN),
            after=(),
        ),
        Component(
            "prometheus-mcp",
            "mcp-server",
            8701,
            "servers.prometheus_mcp.__main__",
            "servers.prometheus_mcp.settings:PrometheusMcpSettings",
            "MCP server over any Prometheus-compatible API (Prometheus, VictoriaMetrics, Thanos, Mimir)",
            serves=(METRICS_READ,),
        ),
        Component(
            "loki-mcp",
            "mcp-server",
            8702,
            "servers.loki_mcp.__main__",
            "servers.loki_mcp.settings:LokiMcpSettings",
            "MCP server over Grafana Loki or, when LOKI_URL is unset, over its own log store, which takes Loki's push "
            "API and answers a LogQL subset (`/loki/api/v1/`)",
            serves=(LOGS_READ, LOGS_WRITE),
        ),
        Component(
            "controlplane",
            "service",
            8710,
            "controlplane.__main__",
            "controlplane.settings:ControlPlaneSettings",
            "The reference Control Plane REST API (`/api/v1`: resources, deployments, audit log, incidents, alert "
            "rules, approvals, actions, analyses; `/openapi.json`), SQLite or PostgreSQL",
            serves=(CONTROLPLANE_READ, CONTROLPLANE_WRITE, CONTROLPLANE_ADMIN),
        ),
        Component(
            "controlplane-mcp",
            "mcp-server",
            8703,
            "servers.controlplane_mcp.__main__",
            "servers.controlplane_mcp.settings:ControlPlaneMcpSettings",
            "MCP server over any control plane with that API: what changed, resources, incidents; restart, rollback, "
            "scale and acknowledge behind approvals (`--read-only` hides them)",
            serves=(CONTROLPLANE_READ, CONTROLPLANE_WRITE),
            # Its tools call the control plane with its own token (writes need approvals too).
            calls=(CONTROLPLANE_READ, CONTROLPLANE_WRITE),
            # It reads the control plane's OpenAPI document at start.
            after=("registry", "controlplane"),
        ),
        Component(
            "router",
            "agent",
            8720,
            "agents.router.__main__",
            "agents.router.settings:RouterSettings",
            "A2A agent and HTTP front door: Alertmanager and deployment webhooks (pages of one outage grouped into "
            "one investigation of the service the others depend on), a REST facade (`/execute`, `/diagnostics/*`, "
            "`/tasks/{id}`), the `route` skill that forwards a request to the agent whose skill fits",
            serves=(AGENTS_INVOKE,),
            # Calls the agents it routes to, and reads the service graph to group related alerts.
            calls=(AGENTS_INVOKE, CONTROLPLANE_READ),
        ),
        Component(
            "triage",
            "agent",
            8721,
            "agents.triage.__main__",
            "agents.triage.settings:TriageSettings",
            "A2A agent: an alert group, a failed deployment or a question becomes a diagnostic report (onset, changes "
            "before it, ranked causes citing their evidence, approval-gated actions); no model needed",
            serves=(AGENTS_INVOKE,),
            # Reads the MCP servers; records its reports in the control plane.
            calls=(METRICS_READ, LOGS_READ, CONTROLPLANE_READ, CONTROLPLANE_WRITE),
        ),
    )
}
