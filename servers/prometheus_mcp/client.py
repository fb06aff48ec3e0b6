"""Client of the Prometheus HTTP API (also VictoriaMetrics, Thanos, Mimir, Cortex). No MCP here.

Every method returns the `data` member of a successful answer with the answer's warnings, or
raises a `BackendError` whose message says what failed and what to do about it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from common.errors import BackendFailed, BackendRejected, BackendTimeout
from common.redaction import redact
from common.upstream import UpstreamClient

__all__ = ["ApiAnswer", "PrometheusClient"]

logger = logging.getLogger(__name__)

# Upstream error bodies can be huge (an HTML error page); a model needs the first lines.
_MAX_ERROR_TEXT = 500


@dataclass(frozen=True)
class ApiAnswer:
    data: Any
    warnings: tuple[str, ...] = ()


class PrometheusClient(UpstreamClient):
    kind = "Prometheus"
    settings_prefix = "PROMETHEUS_MCP"
    url_setting = "PROMETHEUS_URL"
    narrowing = "Narrow the query (fewer series, shorter range, larger step)"

    async def query(self, query: str, *, time: float) -> ApiAnswer:
        form = {"query": query, "time": _ts(time), "timeout": f"{round(self.timeout * 1000)}ms"}
        return await self._call("POST", "/api/v1/query", form=form)

    async def query_range(self, query: str, *, start: float, end: float, step: float) -> ApiAnswer:
        form = {
            "query": query,
            "start": _ts(start),
            "end": _ts(end),
            "step": f"{step:g}",
            "timeout": f"{round(self.timeout * 1000)}ms",
        }
        return await self._call("POST", "/api/v1/query_range", form=form)

    async def series(self, match: Sequence[str], *, start: float, end: float) -> ApiAnswer:
        params = [("match[]", m) for m in match] + [("start", _ts(start)), ("end", _ts(end))]
        return await self._call("GET", "/api/v1/series", params=params)

    async def label_names(self, match: Sequence[str], *, start: float, end: float) -> ApiAnswer:
        params = [("match[]", m) for m in match] + [("start", _ts(start)), ("end", _ts(end))]
        return await self._call("GET", "/api/v1/labels", params=params)

    async def label_values(self, label: str, match: Sequence[str], *, start: float, end: float) -> ApiAnswer:
        params = [("match[]", m) for m in match] + [("start", _ts(start)), ("end", _ts(end))]
        # The label name is validated by the caller, so it is safe in the path.
        return await self._call("GET", f"/api/v1/label/{label}/values", params=params)

    async def metadata(self, metric: str | None, *, limit: int | None = None) -> ApiAnswer:
        params: list[tuple[str, str]] = []
        if metric:
            params.append(("metric", metric))
        if limit:
            params.append(("limit", str(limit)))
        return await self._call("GET", "/api/v1/metadata", params=params)

    async def alerts(self) -> ApiAnswer:
        return await self._call("GET", "/api/v1/alerts")

    async def rules(self, rule_type: str | None = None) -> ApiAnswer:
        params = [("type", rule_type)] if rule_type else []
        return await self._call("GET", "/api/v1/rules", params=params)

    async def targets(self, state: str = "active") -> ApiAnswer:
        return await self._call("GET", "/api/v1/targets", params=[("state", state)])

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        form: Mapping[str, str] | None = None,
    ) -> ApiAnswer:
        endpoint = path if not path.startswith("/api/v1/label/") else "/api/v1/label/values"
        # Prometheus is told the timeout itself (so it stops evaluating); it should give up first.
        return await self._request(
            method,
            path,
            lambda response, raw: self._parse(response, raw, path),
            endpoint=endpoint,
            params=params,
            data=dict(form) if form is not None else None,
            slack=1.0,
        )

    def _parse(self, response: httpx.Response, raw: bytes, path: str) -> ApiAnswer:
        status = response.status_code
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            body = {}
        text = raw[:_MAX_ERROR_TEXT].decode(errors="replace")
        detail = redact(str(body.get("error") or text or response.reason_phrase))[:_MAX_ERROR_TEXT]
        error_type = str(body.get("errorType", ""))
        if status == 200 and body.get("status") == "success":
            return ApiAnswer(data=body.get("data"), warnings=tuple(str(w) for w in body.get("warnings") or ()))
        if status in (401, 403):
            raise BackendRejected(
                f"Prometheus backend {self.name!r} refused our credentials (HTTP {status}). "
                "Check the backend's bearer token, basic auth or tenant in the prometheus-mcp configuration.",
                backend=self.name,
                status_code=status,
            )
        if status == 404:
            raise BackendRejected(
                f"Prometheus backend {self.name!r} does not offer {path} (HTTP 404); "
                "this Prometheus-compatible server may not implement that API.",
                backend=self.name,
                status_code=status,
                # The API is missing, not what the caller asked about.
                kind="backend_unavailable",
            )
        if error_type == "timeout" or (status == 503 and "timeout" in detail.lower()):
            raise BackendTimeout(
                f"Prometheus backend {self.name!r} gave up on the query: {detail}. "
                "Narrow the query (fewer series, shorter range, larger step).",
                backend=self.name,
                status_code=status,
            )
        if 400 <= status < 500:
            raise BackendRejected(
                f"Prometheus backend {self.name!r} rejected the request ({error_type or f'HTTP {status}'}): "
                f"{detail}. Fix the query and try again.",
                backend=self.name,
                status_code=status,
            )
        if status == 200:
            raise BackendFailed(
                f"Prometheus backend {self.name!r} answered {path} with something that is not a Prometheus API "
                "response. Check that its URL points to the Prometheus HTTP API.",
                backend=self.name,
                status_code=status,
            )
        raise BackendFailed(
            f"Prometheus backend {self.name!r} failed (HTTP {status}, {error_type or 'server error'}): {detail}. "
            "Try again later; if it persists, check the backend's health.",
            backend=self.name,
            status_code=status,
        )


def _ts(value: float) -> str:
    return f"{value:.3f}"
