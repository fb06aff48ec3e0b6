"""Client of a Control Plane REST API (`/api/v1`, the contract of `controlplane/openapi.json`). No MCP here.

Answers are kept as the JSON the API sends (dicts), not parsed into the reference models: a
team's own control plane may add fields, and this client must still work with it. Errors are
`BackendError`s that carry the API's own `error` code and description, so a tool can tell an
approval problem (403 `approval_invalid`) from a missing resource (404).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from common.errors import BackendFailed, BackendRejected
from common.redaction import redact
from common.upstream import UpstreamClient

__all__ = ["API", "ApiError", "ControlPlaneClient"]

API = "/api/v1"
_MAX_ERROR_TEXT = 500

Params = Sequence[tuple[str, str]]


class ApiError(BackendRejected):
    """The control plane refused a request (4xx) with an error code of its own."""

    def __init__(self, message: str, *, code: str, description: str, status_code: int, backend: str) -> None:
        super().__init__(message, backend=backend, status_code=status_code)
        self.code = code
        self.description = description


class ControlPlaneClient(UpstreamClient):
    kind = "Control plane"
    settings_prefix = "CONTROLPLANE_MCP"
    url_setting = "CONTROLPLANE_URL"
    narrowing = "Narrow the request (a shorter window, a lower limit)"

    async def get(self, path: str, params: Params = ()) -> Any:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Mapping[str, Any]) -> Any:
        # Not retried: an approval request sent twice would be two approvals.
        return await self.call("POST", path, body=body, idempotent=False)

    async def page(self, path: str, params: Params, *, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Up to `limit` items of a paged list, following cursors; and whether more were left."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page_params = [*params, ("limit", str(min(500, limit - len(items))))]
            if cursor:
                page_params.append(("cursor", cursor))
            answer = await self.get(path, page_params)
            items += answer.get("items", [])
            cursor = answer.get("next_cursor")
            if not answer.get("truncated") or not cursor:
                return items, False
            if len(items) >= limit:
                return items[:limit], True

    async def openapi(self) -> dict[str, Any]:
        document: dict[str, Any] = await self.call("GET", "/openapi.json")
        return document

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Params = (),
        body: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Any:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if content is not None else {}
        return await self._request(
            method,
            path,
            lambda response, raw: self._parse(response, raw, method, path),
            endpoint=_endpoint(path),
            params=params,
            content=content,
            headers=headers,
            idempotent=idempotent,
        )

    def _parse(self, response: httpx.Response, raw: bytes, method: str, path: str) -> Any:
        try:
            body = json.loads(raw) if raw.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        status = response.status_code
        if 200 <= status < 300:
            return body
        # The path's template, not the path: a caller's ids may hold anything, %-encoded past redaction.
        path = _endpoint(path)
        code = str(body.get("error", "")) if isinstance(body, dict) else ""
        description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
        if isinstance(body, dict) and body.get("errors"):
            fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body["errors"] if isinstance(e, dict))
            description = f"{description} ({fields})" if description else fields
        detail = redact(description or raw[:_MAX_ERROR_TEXT].decode(errors="replace").strip() or response.reason_phrase)
        where = f"The control plane ({self.upstream.url})"
        if status in (401, 403) and code in ("invalid_token", "insufficient_scope", ""):
            raise BackendRejected(
                f"{where} refused {method} {path} (HTTP {status}: {detail}). Check controlplane-mcp's own "
                "client (SRE_CLIENT_ID and its scopes) or CONTROLPLANE_MCP_BEARER_TOKEN.",
                backend=self.name,
                status_code=status,
            )
        if 400 <= status < 500:
            raise ApiError(
                f"{where} refused {method} {path} (HTTP {status} {code}): {detail}",
                code=code,
                description=detail,
                status_code=status,
                backend=self.name,
            )
        raise BackendFailed(
            f"{where} failed on {method} {path} (HTTP {status}): {detail}. Try again later; if it persists, "
            "check the control plane's health.",
            backend=self.name,
            status_code=status,
        )


# The words of the API's paths; any other segment is an id, and becomes {id} in metric labels so
# that label values stay few.
_PATH_WORDS = frozenset(
    [
        "api",
        "v1",
        "resources",
        "dependencies",
        "resource-groups",
        "deployments",
        "audit-logs",
        "incidents",
        "acknowledge",
        "resolve",
        "timeline",
        "alert-rules",
        "automation",
        "executions",
        "approvals",
        "approve",
        "reject",
        "actions",
        "restart",
        "rollback",
        "scale",
        "analyses",
        "openapi.json",
    ]
)


def _endpoint(path: str) -> str:
    return "/".join(part if not part or part in _PATH_WORDS else "{id}" for part in path.split("/"))
