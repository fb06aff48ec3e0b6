"""A control plane served in-process for tests, and ways to call it as different clients.

`ControlPlane` wraps the URL of a running app with token minting per client id and scopes;
`Clock` is the app's time, movable; `SwitchableExecutor` fails actions on demand.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from common.settings import SettingsSource
from controlplane.executor import ExecutionResult, RecordingExecutor, Target
from controlplane.settings import ControlPlaneSettings
from support.issuer import TestIssuer

READ = "controlplane:read"
WRITE = "controlplane:write"
ADMIN = "controlplane:admin"
ALL = (READ, WRITE, ADMIN)


class Clock:
    """The app's time: real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


class SwitchableExecutor(RecordingExecutor):
    """The recording executor, failing every action while `failing` is set, and counting calls."""

    def __init__(self) -> None:
        self.failing = False
        self.calls: list[tuple[str, str]] = []

    async def _result(self, action: str, target: Target, ok: ExecutionResult) -> ExecutionResult:
        self.calls.append((action, target.resource_id))
        return ExecutionResult(False, "the cluster refused") if self.failing else ok

    async def restart(self, target: Target) -> ExecutionResult:
        return await self._result("restart", target, await super().restart(target))

    async def rollback(self, target: Target, to_version: str) -> ExecutionResult:
        return await self._result("rollback", target, await super().rollback(target, to_version))

    async def scale(self, target: Target, replicas: int) -> ExecutionResult:
        return await self._result("scale", target, await super().scale(target, replicas))


@dataclass
class ControlPlane:
    """A served control plane and ways to call it as different clients."""

    url: str
    issuer: TestIssuer
    clock: Clock
    executor: SwitchableExecutor
    http: httpx.Client
    database: str
    _tokens: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)

    def headers(self, client_id: str = "operator", scopes: tuple[str, ...] = ALL) -> dict[str, str]:
        key = (client_id, scopes)
        if key not in self._tokens:
            claims = {"client_id": client_id, "sub": client_id}
            self._tokens[key] = self.issuer.mint(self.url, scopes, claims=claims, lifetime=900)
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    def call(
        self, method: str, path: str, *, client_id: str = "operator", scopes: tuple[str, ...] = ALL, **kwargs: Any
    ) -> httpx.Response:
        return self.http.request(method, f"{self.url}/api/v1{path}", headers=self.headers(client_id, scopes), **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def all_items(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list endpoint, page by page."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.ok("GET", path, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})})
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    def audit_count(self) -> int:
        return len(self.all_items("/audit-logs"))


def settings_for(issuer: TestIssuer, port: int, data_dir: Path, **extra: str) -> ControlPlaneSettings:
    source = {
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        "SRE_PORT": str(port),
        "SRE_DATA_DIR": str(data_dir),
        "SRE_REQUESTS_PER_SECOND": "100000",
        **extra,
    }
    return ControlPlaneSettings.from_source(SettingsSource(source))


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def new_resource(cp: ControlPlane, name: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"name": name or unique("svc"), "kind": "deployment", "version": "1.0", "replicas": 2, **fields}
    return cp.ok("POST", "/resources", 201, json=body)  # type: ignore[no-any-return]


def approved(
    cp: ControlPlane,
    action: str,
    target: str,
    arguments: dict[str, Any] | None = None,
    *,
    requester: str = "agent",
    approver: str = "human",
    on_behalf_of: str | None = None,
) -> dict[str, Any]:
    """An approval requested by `requester` and approved by `approver`."""
    body = {"action": action, "target": target, "arguments": arguments or {}, "on_behalf_of": on_behalf_of}
    pending = cp.ok("POST", "/approvals", 201, json=body, client_id=requester)
    return cp.ok("POST", f"/approvals/{pending['id']}/approve", json={"reason": "ok"}, client_id=approver)  # type: ignore[no-any-return]
