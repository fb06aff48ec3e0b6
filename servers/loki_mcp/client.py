"""Client of Grafana Loki's HTTP API (`/loki/api/v1/...`). No MCP here.

Every method returns parsed values (`servers.loki_mcp.models`) or raises a `BackendError` whose
message says what failed and what to do about it. Times are nanosecond Unix epochs (`*_ns`),
Loki's own precision; steps are seconds.

What Loki does that a client must absorb: its 4xx errors are bare `text/plain` messages; a log
query cut at `limit` carries no flag (see `LogQueryResult.truncated`); structured metadata is
merged into stream labels unless the request asks for `categorize-labels`; `/index/stats`,
`/detected_*`, `/drilldown-limits` and buildinfo answer without the `{"status", "data"}` envelope;
`/index/stats` reads zero for data not yet flushed, which is an answer, not an error.

One module past 400 lines: one class, each method a thin wrapper of one endpoint of Loki's API;
splitting it would cut that API in arbitrary places.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx

from common.errors import BackendError, BackendFailed, BackendRejected, BackendTimeout, InputError
from common.metrics import ServerMetrics
from common.redaction import redact
from common.settings import Upstream
from common.upstream import UpstreamClient
from servers.loki_mcp.models import (
    CATEGORIZE_LABELS,
    BuildInfo,
    DetectedField,
    DetectedLabel,
    Direction,
    DrilldownLimits,
    IndexStats,
    LogQueryResult,
    MetricResult,
    Pattern,
    PushStream,
    expect,
    str_map,
    strings,
)

__all__ = ["CATEGORIZE_LABELS", "ENCODING_FLAGS_HEADER", "LOKI_DEFAULT_LIMIT", "LokiClient"]

logger = logging.getLogger(__name__)

ENCODING_FLAGS_HEADER = "X-Loki-Response-Encoding-Flags"
# What Loki applies to a log query sent without `limit`.
LOKI_DEFAULT_LIMIT = 100
# Longer query strings go as a POST form: proxies in front of Loki often cap URLs at 4-8 KiB.
POST_QUERY_ABOVE_BYTES = 2048
_API = "/loki/api/v1"
# Upstream error bodies can be huge (an HTML error page); a model needs the first lines.
_MAX_ERROR_TEXT = 500

T = TypeVar("T")


class LokiClient(UpstreamClient):
    kind = "Loki"
    settings_prefix = "LOKI_MCP"
    url_setting = "LOKI_URL"
    narrowing = "Narrow the query (a more selective stream selector, a line filter, a lower limit, a shorter range)"

    def __init__(
        self,
        upstream: Upstream,
        *,
        timeout: float,
        max_response_bytes: int = 64_000_000,
        post_query_above: int = POST_QUERY_ABOVE_BYTES,
        http_client: httpx.AsyncClient | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        super().__init__(
            upstream, timeout=timeout, max_response_bytes=max_response_bytes, http_client=http_client, metrics=metrics
        )
        self.post_query_above = post_query_above

    # --- queries -------------------------------------------------------------------------------

    async def query(
        self,
        query: str,
        *,
        time_ns: int | None = None,
        limit: int | None = None,
        direction: Direction | None = None,
        categorize_labels: bool = True,
    ) -> LogQueryResult | MetricResult:
        """Instant query. Loki refuses log selectors here (use `query_range`); metric queries work."""
        params = [("query", query), *_opt("time", time_ns), *_opt("limit", limit), *_opt("direction", direction)]
        return await self._query("/query", params, limit, direction, categorize_labels)

    async def query_range(
        self,
        query: str,
        *,
        start_ns: int,
        end_ns: int,
        step: float | None = None,
        limit: int | None = None,
        direction: Direction | None = None,
        categorize_labels: bool = True,
    ) -> LogQueryResult | MetricResult:
        """Log lines (a `LogQueryResult`) or a metric matrix (a `MetricResult`), as the query is."""
        params = [
            ("query", query),
            ("start", str(start_ns)),
            ("end", str(end_ns)),
            *_opt("limit", limit),
            *_opt("direction", direction),
            *_opt("step", _step(step)),
        ]
        return await self._query("/query_range", params, limit, direction, categorize_labels)

    async def query_logs(self, query: str, *, start_ns: int, end_ns: int, **options: Any) -> LogQueryResult:
        """`query_range` for a log query; a metric query is the caller's mistake."""
        result = await self.query_range(query, start_ns=start_ns, end_ns=end_ns, **options)
        if not isinstance(result, LogQueryResult):
            raise InputError(f"{query!r} is a metric query; it returns numbers, not log lines.")
        return result

    async def query_metrics(self, query: str, *, start_ns: int, end_ns: int, **options: Any) -> MetricResult:
        """`query_range` for a metric query (count_over_time, rate, ...); a log query is the caller's mistake."""
        result = await self.query_range(query, start_ns=start_ns, end_ns=end_ns, **options)
        if not isinstance(result, MetricResult):
            raise InputError(f"{query!r} is a log query; wrap it in a range aggregation such as count_over_time.")
        return result

    async def _query(
        self,
        path: str,
        params: list[tuple[str, str]],
        limit: int | None,
        direction: Direction | None,
        categorize_labels: bool,
    ) -> LogQueryResult | MetricResult:
        headers = {ENCODING_FLAGS_HEADER: CATEGORIZE_LABELS} if categorize_labels else {}
        as_form = len(urlencode(params)) > self.post_query_above
        data, warnings = await self._call(
            "POST" if as_form else "GET",
            _API + path,
            params=() if as_form else params,
            form=params if as_form else None,
            headers=headers,
        )
        if isinstance(data, dict) and data.get("resultType") == "streams":
            return self._shaped(
                path,
                LogQueryResult.from_api,
                data,
                limit=limit or LOKI_DEFAULT_LIMIT,
                direction=direction or "backward",
                warnings=warnings,
            )
        return self._shaped(path, MetricResult.from_api, data, warnings)

    # --- discovery -----------------------------------------------------------------------------

    async def labels(self, *, start_ns: int, end_ns: int, query: str | None = None) -> tuple[str, ...]:
        params = [("start", str(start_ns)), ("end", str(end_ns)), *_opt("query", query)]
        data, _ = await self._call("GET", f"{_API}/labels", params=params)
        return self._shaped("/labels", strings, data)

    async def label_values(
        self, label: str, *, start_ns: int, end_ns: int, query: str | None = None
    ) -> tuple[str, ...]:
        params = [("start", str(start_ns)), ("end", str(end_ns)), *_opt("query", query)]
        path = f"{_API}/label/{quote(label, safe='')}/values"
        data, _ = await self._call("GET", path, params=params, endpoint=f"{_API}/label/values")
        return self._shaped(path, strings, data)

    async def series(self, match: Sequence[str], *, start_ns: int, end_ns: int) -> tuple[dict[str, str], ...]:
        params = [*(("match[]", m) for m in match), ("start", str(start_ns)), ("end", str(end_ns))]
        data, _ = await self._call("GET", f"{_API}/series", params=params)
        return self._shaped("/series", _each, str_map, data)

    async def detected_labels(self, query: str, *, start_ns: int, end_ns: int) -> tuple[DetectedLabel, ...]:
        params = _window(query, start_ns, end_ns)
        data, _ = await self._call("GET", f"{_API}/detected_labels", params=params, bare=True)
        return self._shaped("/detected_labels", _each, DetectedLabel.from_api, data.get("detectedLabels"))

    async def detected_fields(
        self, query: str, *, start_ns: int, end_ns: int, limit: int | None = None, line_limit: int | None = None
    ) -> tuple[DetectedField, ...]:
        params = [*_window(query, start_ns, end_ns), *_opt("limit", limit), *_opt("line_limit", line_limit)]
        data, _ = await self._call("GET", f"{_API}/detected_fields", params=params, bare=True)
        return self._shaped("/detected_fields", _each, DetectedField.from_api, data.get("fields"))

    async def detected_field_values(
        self, field: str, query: str, *, start_ns: int, end_ns: int, limit: int | None = None
    ) -> tuple[str, ...]:
        params = [*_window(query, start_ns, end_ns), *_opt("limit", limit)]
        path = f"{_API}/detected_field/{quote(field, safe='')}/values"
        data, _ = await self._call("GET", path, params=params, bare=True, endpoint=f"{_API}/detected_field/values")
        return self._shaped(path, strings, data.get("values"))

    async def patterns(
        self, query: str, *, start_ns: int, end_ns: int, step: float | None = None
    ) -> tuple[Pattern, ...]:
        """Templates from the pattern ingester; only those making up most of the volume, so rare ones may lack."""
        params = [*_window(query, start_ns, end_ns), *_opt("step", _step(step))]
        data, _ = await self._call("GET", f"{_API}/patterns", params=params)
        return self._shaped("/patterns", _each, Pattern.from_api, data)

    # --- cost and volume ------------------------------------------------------------------------

    async def index_stats(self, query: str, *, start_ns: int, end_ns: int) -> IndexStats:
        """What the selector would read; zeros may mean "not flushed yet" (see `IndexStats`)."""
        data, _ = await self._call("GET", f"{_API}/index/stats", params=_window(query, start_ns, end_ns), bare=True)
        return self._shaped("/index/stats", IndexStats.from_api, data)

    async def index_volume(
        self,
        query: str,
        *,
        start_ns: int,
        end_ns: int,
        limit: int | None = None,
        target_labels: Sequence[str] = (),
        aggregate_by: str | None = None,
    ) -> MetricResult:
        """Bytes per series (or per `target_labels`) over the window, as a vector."""
        params = [*_window(query, start_ns, end_ns), *_opt("limit", limit), *_volume(target_labels, aggregate_by)]
        data, warnings = await self._call("GET", f"{_API}/index/volume", params=params)
        return self._shaped("/index/volume", MetricResult.from_api, data, warnings)

    async def index_volume_range(
        self,
        query: str,
        *,
        start_ns: int,
        end_ns: int,
        step: float | None = None,
        limit: int | None = None,
        target_labels: Sequence[str] = (),
        aggregate_by: str | None = None,
    ) -> MetricResult:
        """Bytes per series and step, as a matrix."""
        params = [
            *_window(query, start_ns, end_ns),
            *_opt("step", _step(step)),
            *_opt("limit", limit),
            *_volume(target_labels, aggregate_by),
        ]
        data, warnings = await self._call("GET", f"{_API}/index/volume_range", params=params)
        return self._shaped("/index/volume_range", MetricResult.from_api, data, warnings)

    # --- server ----------------------------------------------------------------------------------

    async def format_query(self, query: str) -> str:
        data, _ = await self._call("GET", f"{_API}/format_query", params=[("query", query)])
        text: str = self._shaped("/format_query", expect, data, str)
        return text

    async def buildinfo(self) -> BuildInfo:
        data, _ = await self._call("GET", f"{_API}/status/buildinfo", bare=True)
        return self._shaped("/status/buildinfo", BuildInfo.from_api, data)

    async def drilldown_limits(self) -> DrilldownLimits:
        """The tenant's query limits; Loki needs a tenant (X-Scope-OrgID) here even with auth off."""
        data, _ = await self._call("GET", f"{_API}/drilldown-limits", bare=True)
        return self._shaped("/drilldown-limits", DrilldownLimits.from_api, data)

    # --- ingest ----------------------------------------------------------------------------------

    async def push(self, streams: Sequence[PushStream]) -> None:
        """Push log lines as JSON (structured metadata as each value's third member)."""
        payload = {
            "streams": [
                {
                    "stream": dict(stream.labels),
                    "values": [
                        [str(e.timestamp_ns), e.line, dict(e.structured_metadata)]
                        if e.structured_metadata
                        else [str(e.timestamp_ns), e.line]
                        for e in stream.entries
                    ],
                }
                for stream in streams
            ]
        }
        await self.push_payload(payload)

    async def push_payload(self, payload: Mapping[str, Any]) -> None:
        """Push a body already in Loki's JSON push format (`{"streams": [...]}`), as it is."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        await self._call("POST", f"{_API}/push", content=body, headers={"Content-Type": "application/json"})

    # --- transport and errors ---------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        form: Sequence[tuple[str, str]] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        bare: bool = False,
        endpoint: str | None = None,
    ) -> tuple[Any, tuple[str, ...]]:
        """One request; returns (data, warnings). `bare`: the endpoint has no status/data envelope."""
        # Queries change nothing, and Loki drops a pushed entry it already holds: all are idempotent.
        return await self._request(
            method,
            path,
            lambda response, raw: self._parse(response, raw, path, bare),
            endpoint=endpoint or path,
            params=params,
            # httpx wants a mapping for forms; a dict of lists keeps repeated keys.
            data=_form(form) if form is not None else None,
            content=content,
            headers=headers,
        )

    def _parse(self, response: httpx.Response, raw: bytes, path: str, bare: bool) -> tuple[Any, tuple[str, ...]]:
        status = response.status_code
        try:
            body = json.loads(raw) if raw.strip() else None
            parsed = True
        except (json.JSONDecodeError, UnicodeDecodeError):
            body, parsed = None, False
        if status == 204 or (status == 200 and path.endswith("/push")):
            return None, ()
        if status == 200 and parsed:
            if bare and isinstance(body, dict):
                return body, ()
            if isinstance(body, dict) and body.get("status") == "success":
                return body.get("data"), tuple(str(w) for w in body.get("warnings") or ())
        detail = self._detail(body, raw, response)
        if status == 200:
            raise BackendFailed(
                f"Loki backend {self.name!r} answered {path} with something that is not a Loki API response "
                f"({detail}). Check that its URL points to Loki's HTTP API.",
                backend=self.name,
                status_code=status,
            )
        raise self._status_error(status, path, detail)

    def _detail(self, body: Any, raw: bytes, response: httpx.Response) -> str:
        # Loki's own errors are bare text; JSON ones come from proxies and query frontends.
        text = str(body.get("error") or body.get("message") or "") if isinstance(body, dict) else ""
        text = text or raw[:_MAX_ERROR_TEXT].decode(errors="replace").strip() or response.reason_phrase
        return redact(text)[:_MAX_ERROR_TEXT]

    def _status_error(self, status: int, path: str, detail: str) -> BackendError:
        where = f"Loki backend {self.name!r}"
        if status in (401, 403):
            hint = (
                "It needs a tenant: set the backend's tenant (X-Scope-OrgID, LOKI_MCP_TENANT)."
                if "org id" in detail.lower()
                else "Check the backend's bearer token, basic auth or tenant in the loki-mcp configuration."
            )
            return BackendRejected(
                f"{where} refused the request (HTTP {status}: {detail}). {hint}", backend=self.name, status_code=status
            )
        if status == 404:
            return BackendRejected(
                f"{where} does not offer {path} (HTTP 404: {detail}); this Loki version may not have that API "
                "or it is disabled.",
                backend=self.name,
                status_code=status,
                # The API is missing, not what the caller asked about.
                kind="backend_unavailable",
            )
        if status == 429:
            return BackendRejected(
                f"{where} is limiting requests (HTTP 429: {detail}). Wait a little, or narrow the query.",
                backend=self.name,
                status_code=status,
            )
        if 400 <= status < 500:
            return BackendRejected(
                f"{where} rejected the request (HTTP {status}): {detail}. {_hint(detail)}",
                backend=self.name,
                status_code=status,
            )
        lowered = detail.lower()
        if status == 504 or "deadline exceeded" in lowered or "timeout" in lowered:
            return BackendTimeout(
                f"{where} gave up on the query (HTTP {status}: {detail}). Narrow the query (a more selective "
                "selector, a shorter range).",
                backend=self.name,
                status_code=status,
            )
        return BackendFailed(
            f"{where} failed (HTTP {status}): {detail}. Try again later; if it persists, check the backend's health.",
            backend=self.name,
            status_code=status,
        )

    def _shaped(self, path: str, parse: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a parser over a successful answer; a shape it does not expect is the backend's failure."""
        try:
            return parse(*args, **kwargs)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise BackendFailed(
                f"Loki backend {self.name!r} answered {_API}{path.removeprefix(_API)} in an unexpected shape "
                f"({type(exc).__name__}: {redact(str(exc))[:200]}). Check that it is a Loki of version 3 or later.",
                backend=self.name,
                status_code=200,
            ) from None


_HINTS = (
    ("max entries limit", "Lower `limit`."),
    ("time range exceeds", "Shorten the time range."),
    ("maximum resolution", "Use a larger step."),
    ("instant query", "Run it as a range query."),
    ("parse error", "Fix the LogQL and try again."),
)


def _hint(detail: str) -> str:
    lowered = detail.lower()
    return next((hint for needle, hint in _HINTS if needle in lowered), "Fix the request and try again.")


# --- request helpers --------------------------------------------------------------------------------


def _opt(name: str, value: object) -> list[tuple[str, str]]:
    return [] if value is None else [(name, str(value))]


def _step(step: float | None) -> str | None:
    return None if step is None else f"{step:g}"


def _window(query: str, start_ns: int, end_ns: int) -> list[tuple[str, str]]:
    return [("query", query), ("start", str(start_ns)), ("end", str(end_ns))]


def _volume(target_labels: Sequence[str], aggregate_by: str | None) -> list[tuple[str, str]]:
    labels = [("targetLabels", ",".join(target_labels))] if target_labels else []
    return labels + _opt("aggregateBy", aggregate_by)


def _form(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for key, value in pairs:
        form.setdefault(key, []).append(value)
    return form


def _each(parse: Callable[[Any], T], items: Any) -> tuple[T, ...]:
    return tuple(parse(item) for item in expect(items or [], list))
