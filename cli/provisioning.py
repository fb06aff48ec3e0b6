"""The OAuth clients `sre up` gives each component, with their secrets kept for the local run.

Clients live in the registry's `clients.toml` (secrets hashed). So that `sre up` can start the
components again without asking anyone, each secret is also kept in
`SRE_DATA_DIR/credentials/<client>.secret`, readable by the owner only. That is the embedded,
single-machine default; a real deployment hands each component its secret through its own
secret store and never writes this directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from common.scopes import REGISTRY_WRITE
from registry.clients import ClientStore

__all__ = ["CLIENTS", "provision", "read_secret", "reserved_names"]

#: Each local client and the scopes it needs.
CLIENTS: Mapping[str, tuple[str, ...]] = {
    # Registers itself.
    "prometheus-mcp": ("registry:write",),
    "loki-mcp": ("registry:write",),
    # Registers itself, and calls the control plane with its own token (writes need approvals too).
    "controlplane-mcp": ("registry:write", "controlplane:read", "controlplane:write"),
    # Registers itself, reads the MCP servers with its own token, records its reports in the control plane.
    "triage": ("registry:write", "metrics:read", "logs:read", "controlplane:read", "controlplane:write"),
    # Registers itself and calls the agents it routes to (triage) with its own token.
    "router": ("registry:write", "agents:invoke"),
    # Posts alerts to the router's webhook.
    "alertmanager": ("agents:invoke",),
    # Scrapes the components' /metrics.
    "prometheus": ("metrics:read",),
    # The person at the keyboard: `sre auth token`, MCP Inspector, Claude Desktop over HTTP.
    "cli": ("metrics:read", "logs:read", "logs:write", "controlplane:read", "controlplane:write", "agents:invoke"),
    # Decides on approvals (`sre controlplane approve`): a person other than whoever requested them.
    "approver": ("controlplane:read", "controlplane:admin"),
    # `sre scenario load`: writes a scenario's history into the log store and the control plane.
    "scenario": ("controlplane:read", "controlplane:admin", "logs:write"),
}


def reserved_names() -> dict[str, str]:
    """Registry name -> client, for `REGISTRY_RESERVED_NAMES`: each component that registers itself does so
    under its own name, which no other client may then take (or shadow `triage` with)."""
    return {name: name for name, scopes in CLIENTS.items() if REGISTRY_WRITE in scopes}


def provision(data_dir: Path, clients: ClientStore) -> dict[str, str]:
    """Every client of `CLIENTS`, created, or given a new secret (and the scopes listed here) when its
    secret file is missing or its scopes differ (a data directory of an older version)."""
    credentials = data_dir / "credentials"
    credentials.mkdir(mode=0o700, parents=True, exist_ok=True)
    secrets = {}
    for name, scopes in CLIENTS.items():
        path = credentials / f"{name}.secret"
        existing = clients.get(name)
        if path.exists() and existing is not None and set(existing.scopes) == set(scopes):
            secrets[name] = path.read_text().strip()
            continue
        secret = clients.add_client(name, scopes, rotate_secret=existing is not None)
        _write_private(path, secret)
        secrets[name] = secret
    return secrets


def read_secret(data_dir: Path, name: str) -> str | None:
    path = data_dir / "credentials" / f"{name}.secret"
    return path.read_text().strip() if path.exists() else None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
