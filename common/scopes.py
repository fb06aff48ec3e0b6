"""The OAuth scopes of the platform, each named once (DESIGN.md, Identity).

A token carries the scopes its client was granted; each component checks the ones it serves:

    METRICS_READ        prometheus-mcp's tools
    LOGS_READ           loki-mcp's tools and its embedded store's Loki query API
    LOGS_WRITE          pushing to loki-mcp's embedded store
    CONTROLPLANE_READ   the control plane's reads, and controlplane-mcp's read tools
    CONTROLPLANE_WRITE  its writes and write tools (actions also need an approval)
    CONTROLPLANE_ADMIN  seeding resources and history, deciding on approvals
    AGENTS_INVOKE       A2A calls to any agent, the router's webhooks and REST facade
    REGISTRY_WRITE      registering in the registry (an entry then belongs to its registrant)
    REGISTRY_ADMIN      changing or deleting any registry entry
"""

from __future__ import annotations

__all__ = [
    "AGENTS_INVOKE",
    "ALL_SCOPES",
    "CONTROLPLANE_ADMIN",
    "CONTROLPLANE_READ",
    "CONTROLPLANE_WRITE",
    "LOGS_READ",
    "LOGS_WRITE",
    "METRICS_READ",
    "REGISTRY_ADMIN",
    "REGISTRY_WRITE",
]

METRICS_READ = "metrics:read"
LOGS_READ = "logs:read"
LOGS_WRITE = "logs:write"
CONTROLPLANE_READ = "controlplane:read"
CONTROLPLANE_WRITE = "controlplane:write"
CONTROLPLANE_ADMIN = "controlplane:admin"
AGENTS_INVOKE = "agents:invoke"
REGISTRY_WRITE = "registry:write"
REGISTRY_ADMIN = "registry:admin"

#: Every scope a client may be granted; the authorization server refuses any other.
ALL_SCOPES: tuple[str, ...] = (
    METRICS_READ,
    LOGS_READ,
    LOGS_WRITE,
    CONTROLPLANE_READ,
    CONTROLPLANE_WRITE,
    CONTROLPLANE_ADMIN,
    AGENTS_INVOKE,
    REGISTRY_WRITE,
    REGISTRY_ADMIN,
)
