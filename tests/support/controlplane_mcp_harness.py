"""A control plane and controlplane-mcp served for real, for the tests that drive them end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from mcp import Client

from support.issuer import TestIssuer
from support.mcp_session import token_session
from support.served import ServedComponent

READ, WRITE, ADMIN = "controlplane:read", "controlplane:write", "controlplane:admin"


class Seeder:
    """Writes to the control plane API directly, as the platform's admin or a human approver would."""

    def __init__(self, url: str, issuer: TestIssuer) -> None:
        self.url = url
        self.issuer = issuer

    def request(self, method: str, path: str, *, client_id: str = "seeder", body: Any = None) -> httpx.Response:
        token = self.issuer.mint(self.url, [READ, WRITE, ADMIN], claims={"client_id": client_id})
        return httpx.request(
            method, f"{self.url}/api/v1{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def ok(self, method: str, path: str, body: Any = None, *, client_id: str = "seeder") -> Any:
        response = self.request(method, path, client_id=client_id, body=body)
        assert response.status_code < 300, response.text
        return response.json()

    def resource(self, name: str, **fields: Any) -> dict[str, Any]:
        body = {"name": name, "namespace": "prod", "kind": "deployment", "version": "v1", "replicas": 2, **fields}
        return self.ok("POST", "/resources", body)  # type: ignore[no-any-return]

    def approve(self, approval_id: str, *, client_id: str = "alice") -> httpx.Response:
        return self.request("POST", f"/approvals/{approval_id}/approve", client_id=client_id, body={"reason": "ok"})


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def serve_controlplane(
    issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory, *, approval_ttl: int
) -> ServedComponent:
    """The reference control plane trusting `issuer`, its approvals living `approval_ttl` seconds."""
    env = {
        "SRE_DATA_DIR": str(tmp_path_factory.mktemp("controlplane")),
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        "CONTROLPLANE_APPROVAL_TTL_SECONDS": str(approval_ttl),
    }
    return ServedComponent("controlplane", env, tmp_path_factory.mktemp("served"))


def serve_mcp(
    controlplane: ServedComponent,
    issuer: TestIssuer,
    tmp_path_factory: pytest.TempPathFactory,
    *,
    own_scopes: tuple[str, ...] = (READ, WRITE),
    **env: str,
) -> ServedComponent:
    """controlplane-mcp calling `controlplane` with a static token of its own holding `own_scopes`."""
    # The server's own token for the control plane (what SRE_CLIENT_* would get it), never a caller's.
    own = issuer.mint(controlplane.url, list(own_scopes), claims={"client_id": "controlplane-mcp"}, lifetime=3600)
    settings = {
        "CONTROLPLANE_URL": controlplane.url,
        "CONTROLPLANE_MCP_BEARER_TOKEN": own,
        "CONTROLPLANE_MCP_TOKEN_SCOPES": " ".join(own_scopes),
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        # The whole surface, the OpenAPI operations too (off by default: they cost a model's context).
        "CONTROLPLANE_MCP_OPERATIONS": "true",
        **env,
    }
    return ServedComponent("controlplane-mcp", settings, tmp_path_factory.mktemp("served"))


@asynccontextmanager
async def session(
    served: ServedComponent, issuer: TestIssuer, client_id: str = "agent-a", scopes: tuple[str, ...] = (READ, WRITE)
) -> AsyncIterator[Client]:
    token = issuer.mint(served.mcp_url, list(scopes), claims={"client_id": client_id})
    async with token_session(served.mcp_url, token) as client:
        yield client
