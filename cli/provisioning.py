"""The OAuth clients `sre up` gives each component, with their secrets kept for the local run.

Clients live in the registry's `clients.toml`, or its database (`registry.auth_storage`), secrets
hashed. So that `sre up` can start the components again without asking anyone, each secret is
also kept in
`SRE_DATA_DIR/credentials/<client>.secret`, readable by the owner only. That is the embedded,
single-machine default; a real deployment hands each component its secret through its own
secret store and never writes this directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from common.components import COMPONENTS
from common.local_run import read_secret, secret_file
from common.scopes import (
    AGENTS_INVOKE,
    CONTROLPLANE_ADMIN,
    CONTROLPLANE_READ,
    CONTROLPLANE_WRITE,
    LOGS_READ,
    LOGS_WRITE,
    METRICS_READ,
)
from registry.clients import ClientDirectory

__all__ = ["CLIENTS", "OTHER_CLIENTS", "provision", "read_secret", "reserved_names"]

#: The clients `sre up` gives what is not one of `COMPONENTS`, and the scopes each needs.
OTHER_CLIENTS: Mapping[str, tuple[str, ...]] = {
    # Posts alerts to the router's webhook.
    "alertmanager": (AGENTS_INVOKE,),
    # Scrapes the components' /metrics.
    "prometheus": (METRICS_READ,),
    # The person at the keyboard: `sre auth token`, MCP Inspector, Claude Desktop over HTTP.
    "cli": (METRICS_READ, LOGS_READ, LOGS_WRITE, CONTROLPLANE_READ, CONTROLPLANE_WRITE, AGENTS_INVOKE),
    # Decides on approvals (`sre controlplane approve`): a person other than whoever requested them.
    "approver": (CONTROLPLANE_READ, CONTROLPLANE_ADMIN),
    # `sre scenario load`: writes a scenario's history into the log store and the control plane.
    "scenario": (CONTROLPLANE_READ, CONTROLPLANE_ADMIN, LOGS_WRITE),
}
#: Each local client and the scopes it needs: every component that calls others, then the rest.
CLIENTS: Mapping[str, tuple[str, ...]] = {
    **{c.name: c.client_scopes for c in COMPONENTS.values() if c.client_scopes},
    **OTHER_CLIENTS,
}


def reserved_names() -> dict[str, str]:
    """Registry name -> client, for `REGISTRY_RESERVED_NAMES`: each component that registers itself does so
    under its own name, which no other client may then take (or shadow `triage` with)."""
    return {c.name: c.name for c in COMPONENTS.values() if c.registers}


def provision(data_dir: Path, clients: ClientDirectory) -> dict[str, str]:
    """Every client of `CLIENTS`, created, or given a new secret (and the scopes listed here) when its
    secret file is missing or its scopes differ (a data directory of an older version)."""
    credentials = data_dir / "credentials"
    credentials.mkdir(mode=0o700, parents=True, exist_ok=True)
    secrets = {}
    for name, scopes in CLIENTS.items():
        path = secret_file(data_dir, name)
        existing = clients.get(name)
        if path.exists() and existing is not None and set(existing.scopes) == set(scopes):
            secrets[name] = path.read_text().strip()
            continue
        secret = clients.add_client(name, scopes, rotate_secret=existing is not None)
        _write_private(path, secret)
        secrets[name] = secret
    return secrets


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
