"""The components `sre serve` and `sre stdio` can start, imported only when chosen."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from common.settings import SettingsSource

__all__ = ["COMPONENTS", "Component"]

Serve = Callable[[Literal["stdio", "http"], SettingsSource], Awaitable[None]]


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    summary: str
    stdio: bool

    def serve_function(self) -> Serve:
        serve: Serve = importlib.import_module(self.module).serve
        return serve


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            "prometheus-mcp",
            "servers.prometheus_mcp.__main__",
            "MCP server over Prometheus-compatible metrics (port 8701)",
            stdio=True,
        ),
        Component(
            "loki-mcp",
            "servers.loki_mcp.__main__",
            "MCP server over Loki, or over its embedded log store when LOKI_URL is unset (port 8702)",
            stdio=True,
        ),
        Component(
            "controlplane-mcp",
            "servers.controlplane_mcp.__main__",
            "MCP server over the Control Plane API; write tools need approvals (port 8703)",
            stdio=True,
        ),
        Component(
            "registry",
            "registry.__main__",
            "Registry of agents and MCP servers + OAuth2 authorization server (port 8700)",
            stdio=False,
        ),
        Component(
            "triage",
            "agents.triage.__main__",
            "Triage agent over A2A: alerts, failed deployments and questions to a diagnostic report (port 8721)",
            stdio=False,
        ),
        Component(
            "controlplane",
            "controlplane.__main__",
            "Reference Control Plane REST API: resources, changes, incidents, approvals, actions (port 8710)",
            stdio=False,
        ),
        Component(
            "router",
            "agents.router.__main__",
            "Router: Alertmanager and deployment webhooks, REST facade, A2A route skill (port 8720)",
            stdio=False,
        ),
    )
}
