"""Loading a scenario into real backends: its metric history, its logs and its control-plane rows.

    report = await load_scenario_into(scenario, now, Targets(http, prometheus_write_url=...))
    await stream_live(scenario, now, targets, interval=15, stop_event=stop)   # `make up`'s demo

Metrics go by remote write (`<prometheus>/api/v1/write`, series by series, each series' samples
in time order, at most `MAX_BATCH` samples a request) or VictoriaMetrics' text import. History
is older than what Prometheus already holds, so it must run with the remote-write receiver and
`storage.tsdb.out_of_order_time_window` longer than the scenario's duration. Logs are pushed in
the Loki push format (`LokiClient.push`, or a push URL), at most `MAX_BATCH` lines a request.
Control-plane resources, then deployments and audit entries, go through its REST API with a
token carrying `controlplane:admin`.

Re-running a load of the same scenario at the same `now` is safe: metric samples and log lines
that already exist are the same values at the same times (Prometheus keeps one sample per
timestamp, Loki drops an entry it already holds); a resource that exists (409) is looked up by
namespace and name and left as it is; a deployment (same resource, version and start) or an
audit entry (same resource, type, time and summary) that exists is not created again. A load at
another `now` adds new history rows beside the old ones.

With `ahead`, the scenario is generated past `now` as well (its effects holding, its noise and
its log lines going on, `series_samples`/`log_lines` with `until`): only the history is written,
the rest is `LoadReport.ahead` for a caller that writes it as it falls due (`scenarios.live`), so a
scenario can stay live without its history being generated a second time.

A target not configured, or not reachable, is skipped (`LoadReport.skipped`, with the reason);
one that answers but refuses is a failure (`LoadReport.failed`, with what to do); neither
stops the other targets.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import anyio
import httpx

from common.errors import BackendError, BackendUnavailable
from scenarios.alerts import alertmanager_payloads
from scenarios.logs import log_lines
from scenarios.records import ControlPlaneRecords, GroundTruth, control_plane_records, expected
from scenarios.remote_write import Series, remote_write
from scenarios.samples import SampleSeries, series_samples
from scenarios.spec import Scenario
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.models import PushStream

__all__ = [
    "MAX_BATCH",
    "Ahead",
    "LoadReport",
    "Targets",
    "carried_on",
    "load_scenario_into",
    "push_logs",
    "stream_live",
    "write_samples",
]

logger = logging.getLogger(__name__)

#: Most samples (metrics) or lines (logs) sent in one request.
MAX_BATCH = 5000
_API = "/api/v1"


@dataclass(frozen=True)
class Targets:
    """Where a scenario goes; a target left `None` is skipped.

    `http` sends metrics and pushes to `loki_push_url`; `controlplane_http` carries the control
    plane's token (scope `controlplane:admin`), `http` when not given.
    """

    http: httpx.AsyncClient
    prometheus_write_url: str | None = None
    victoriametrics_url: str | None = None
    loki: LokiClient | None = None
    loki_push_url: str | None = None
    controlplane_url: str | None = None
    controlplane_http: httpx.AsyncClient | None = None


@dataclass(frozen=True)
class Ahead:
    """A scenario's data after its load's `now`, to `until`: generated, not written (the samples and log
    lines at or before `now` are its history)."""

    until: datetime
    samples: list[SampleSeries]
    lines: list[PushStream]


@dataclass
class LoadReport:
    """What a load did: `counts` per target, targets `skipped` or `failed` with the reason, the
    Alertmanager webhook payloads of the scenario's alerts and its ground truth; with `ahead`, the
    data past `now` that was generated and not written."""

    scenario: str
    now: datetime
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    expected: GroundTruth | None = None
    ahead: Ahead | None = None


class _Event(Protocol):
    def is_set(self) -> bool: ...

    async def wait(self) -> Any: ...


async def load_scenario_into(
    scenario: Scenario, now: datetime, targets: Targets, *, ahead: timedelta | None = None
) -> LoadReport:
    """The scenario's history, ending at `now`, written to `targets`; with `ahead`, also generated that much
    past `now` and kept in the report (`LoadReport.ahead`), not written."""
    report = LoadReport(
        scenario.name, now, alerts=alertmanager_payloads(scenario, now), expected=expected(scenario, now)
    )
    logs = targets.loki is not None or targets.loki_push_url is not None
    history, later = carried_on(scenario, now, now + ahead if ahead is not None else now, logs=logs)
    samples, lines = history.samples, history.lines
    await _run(report, "prometheus", targets.prometheus_write_url, lambda: _write_prometheus(targets, samples))
    await _run(report, "victoriametrics", targets.victoriametrics_url, lambda: _write_victoriametrics(targets, samples))
    loki = targets.loki.upstream.url if targets.loki is not None else targets.loki_push_url
    await _run(report, "loki", loki, lambda: push_logs(targets, lines))
    records = control_plane_records(scenario, now)
    await _run(report, "controlplane", targets.controlplane_url, lambda: _load_controlplane(targets, records))
    if ahead is not None:
        report.ahead = later
    return report


def carried_on(scenario: Scenario, now: datetime, until: datetime, *, logs: bool = True) -> tuple[Ahead, Ahead]:
    """The scenario's data to `until` in one generation, split at `now`: its history (`until` = `now`) and
    what comes after (log lines only when `logs`). CPU-bound: about a second for a 3-hour scenario."""
    now_ms = round(now.timestamp() * 1000)
    samples: tuple[list[SampleSeries], list[SampleSeries]] = ([], [])
    for series in series_samples(scenario, now, until=until if until > now else None):
        cut = bisect.bisect_right(series.points, now_ms, key=lambda point: point[0])
        for part, points in zip(samples, (series.points[:cut], series.points[cut:]), strict=True):
            if points:
                part.append(SampleSeries(series.family, series.type, series.name, series.labels, points))
    lines: tuple[list[PushStream], list[PushStream]] = ([], [])
    for stream in log_lines(scenario, now, until=until) if logs else []:
        cut = bisect.bisect_right(stream.entries, now_ms * 1_000_000, key=lambda entry: entry.timestamp_ns)
        lines[0].append(PushStream(stream.labels, stream.entries[:cut]))
        if stream.entries[cut:]:
            lines[1].append(PushStream(stream.labels, stream.entries[cut:]))
    return Ahead(now, samples[0], lines[0]), Ahead(until, samples[1], lines[1])


async def write_samples(targets: Targets, samples: Sequence[SampleSeries]) -> None:
    """`samples` to each metrics target configured (Prometheus' remote write, VictoriaMetrics' import)."""
    if targets.prometheus_write_url is not None:
        await _write_prometheus(targets, samples)
    if targets.victoriametrics_url is not None:
        await _write_victoriametrics(targets, samples)


async def stream_live(
    scenario: Scenario, start_now: datetime, targets: Targets, *, interval: float, stop_event: _Event
) -> int:
    """Every `interval` seconds, write the samples due since the last write (the scenario's
    generator carried on past `start_now`, its effects holding) until `stop_event` is set.

    Returns the number of samples written. A refused or failed write raises `BackendError`.
    """
    sent_ms = round(start_now.timestamp() * 1000)
    written = 0
    while not stop_event.is_set():
        with anyio.move_on_after(interval):
            await stop_event.wait()
        if stop_event.is_set():
            break
        fresh = []
        for series in series_samples(scenario, start_now, until=datetime.now(UTC)):
            points = tuple(point for point in series.points if point[0] > sent_ms)
            if points:
                fresh.append(SampleSeries(series.family, series.type, series.name, series.labels, points))
        if not fresh:
            continue
        await write_samples(targets, fresh)
        sent_ms = max(series.points[-1][0] for series in fresh)
        written += sum(len(series.points) for series in fresh)
    return written


async def _run(
    report: LoadReport, target: str, configured: str | None, work: Callable[[], Awaitable[dict[str, int]]]
) -> None:
    if configured is None:
        report.skipped[target] = "not configured"
        return
    try:
        report.counts[target] = await work()
    except BackendUnavailable as exc:
        report.skipped[target] = str(exc)
    except BackendError as exc:
        report.failed[target] = str(exc)
    logger.info("scenario %s: %s %s", report.scenario, target, report.counts.get(target) or "not loaded")


# --- metrics -------------------------------------------------------------------------------------


def _batches(samples: Sequence[SampleSeries]) -> Iterator[list[Series]]:
    """Series in order, each series' points in time order, split so no batch exceeds MAX_BATCH."""
    batch: list[Series] = []
    size = 0
    for series in samples:
        labels = {"__name__": series.name, **series.labels}
        points = series.points
        while points:
            room = MAX_BATCH - size
            batch.append(Series(labels, points[:room]))
            size += len(points[:room])
            points = points[room:]
            if size >= MAX_BATCH:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


async def _write_prometheus(targets: Targets, samples: Sequence[SampleSeries]) -> dict[str, int]:
    assert targets.prometheus_write_url is not None
    requests = 0
    for batch in _batches(samples):
        await remote_write(targets.http, targets.prometheus_write_url, batch)
        requests += 1
    return {"series": len(samples), "samples": sum(len(s.points) for s in samples), "requests": requests}


async def _write_victoriametrics(targets: Targets, samples: Sequence[SampleSeries]) -> dict[str, int]:
    assert targets.victoriametrics_url is not None
    url = targets.victoriametrics_url.rstrip("/") + "/api/v1/import/prometheus"
    requests = 0
    for batch in _batches(samples):
        lines: list[str] = []
        for series in batch:
            selector = _selector(series.labels)
            lines.extend(f"{selector} {value!r} {t}" for t, value in series.samples)
        response = await _send(targets.http, "victoriametrics", "POST", url, content="\n".join(lines) + "\n")
        _check(response, "victoriametrics", url)
        requests += 1
    return {"series": len(samples), "samples": sum(len(s.points) for s in samples), "requests": requests}


def _selector(labels: Mapping[str, str]) -> str:
    pairs = ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items() if name != "__name__")
    return labels["__name__"] + (f"{{{pairs}}}" if pairs else "")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# --- logs ----------------------------------------------------------------------------------------


def _log_batches(streams: Sequence[PushStream]) -> Iterator[list[PushStream]]:
    batch: list[PushStream] = []
    size = 0
    for stream in streams:
        entries = stream.entries
        while entries:
            room = MAX_BATCH - size
            batch.append(PushStream(stream.labels, entries[:room]))
            size += len(entries[:room])
            entries = entries[room:]
            if size >= MAX_BATCH:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


async def push_logs(targets: Targets, streams: Sequence[PushStream]) -> dict[str, int]:
    """`streams` to the log target configured (loki-mcp's store or a Loki push URL); the counts of what went."""
    requests = 0
    for batch in _log_batches(streams):
        if targets.loki is not None:
            await targets.loki.push(batch)
        else:
            assert targets.loki_push_url is not None
            payload = {
                "streams": [
                    {"stream": dict(s.labels), "values": [[str(e.timestamp_ns), e.line] for e in s.entries]}
                    for s in batch
                ]
            }
            response = await _send(targets.http, "loki", "POST", targets.loki_push_url, json=payload)
            _check(response, "loki", targets.loki_push_url)
        requests += 1
    return {"streams": len(streams), "lines": sum(len(s.entries) for s in streams), "requests": requests}


# --- control plane -------------------------------------------------------------------------------


async def _load_controlplane(targets: Targets, records: ControlPlaneRecords) -> dict[str, int]:
    assert targets.controlplane_url is not None
    base = targets.controlplane_url.rstrip("/") + _API
    http = targets.controlplane_http or targets.http
    counts = dict.fromkeys(
        ("resources", "resources_existing", "deployments", "deployments_existing", "audit_entries", "audit_existing"),
        0,
    )

    async def call(method: str, path: str, **options: Any) -> httpx.Response:
        return await _send(http, "controlplane", method, base + path, **options)

    ids: dict[str, str] = {}
    for resource in records.resources:
        key = f"{resource['namespace']}/{resource['name']}"
        response = await call("POST", "/resources", json=resource)
        if response.status_code == 409:
            found = await call(
                "GET", "/resources", params={"namespace": resource["namespace"], "name": resource["name"]}
            )
            _check(found, "controlplane", base + "/resources")
            matches = [r for r in found.json()["items"] if r["name"] == resource["name"]]
            if not matches:
                raise BackendError(
                    f"The control plane refused resource {key} as existing (409) but does not list it.",
                    backend="controlplane",
                    status_code=409,
                )
            ids[key] = matches[0]["id"]
            counts["resources_existing"] += 1
            continue
        _check(response, "controlplane", base + "/resources")
        ids[key] = response.json()["id"]
        counts["resources"] += 1
    for deployment in records.deployments:
        body = deployment.body(ids)
        started = _instant(body["started_at"])
        existing = await _around(call, "/deployments", started, resource_id=body["resource_id"])
        if any(d["version"] == body["version"] and _instant(d["started_at"]) == started for d in existing):
            counts["deployments_existing"] += 1
            continue
        _check(await call("POST", "/deployments", json=body), "controlplane", base + "/deployments")
        counts["deployments"] += 1
    for entry in records.audit_entries:
        body = entry.body(ids)
        at = _instant(body["at"])
        filters = {"type": body["type"], **({"resource_id": body["resource_id"]} if "resource_id" in body else {})}
        existing = await _around(call, "/audit-logs", at, **filters)
        if any(_instant(a["at"]) == at and a.get("summary") == body["summary"] for a in existing):
            counts["audit_existing"] += 1
            continue
        _check(await call("POST", "/audit-logs", json=body), "controlplane", base + "/audit-logs")
        counts["audit_entries"] += 1
    return counts


async def _around(call: Any, path: str, at: datetime, **filters: str) -> list[dict[str, Any]]:
    """The rows of `path` within a second of `at` (every page)."""
    params: dict[str, Any] = {
        **filters,
        "start": (at - timedelta(seconds=1)).isoformat(),
        "end": (at + timedelta(seconds=1)).isoformat(),
        "limit": 100,
    }
    rows: list[dict[str, Any]] = []
    while True:
        response = await call("GET", path, params=params)
        _check(response, "controlplane", path)
        page = response.json()
        rows.extend(page["items"])
        if not page.get("next_cursor"):
            return rows
        params["cursor"] = page["next_cursor"]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- transport -----------------------------------------------------------------------------------


async def _send(http: httpx.AsyncClient, backend: str, method: str, url: str, **options: Any) -> httpx.Response:
    try:
        return await http.request(method, url, **options)
    except httpx.TransportError as exc:
        raise BackendUnavailable(
            f"{backend} at {url} could not be reached ({type(exc).__name__}); is it running?", backend=backend
        ) from None


_ADVICE = {
    401: "the token was refused: check the client's credentials and the token's audience",
    403: "the token lacks a scope: loading needs controlplane:admin for the control plane, logs:write for logs",
}


def _check(response: httpx.Response, backend: str, url: str) -> None:
    if response.status_code < 300:
        return
    advice = _ADVICE.get(response.status_code, response.text[:300].strip())
    raise BackendError(
        f"{backend} refused {response.request.method} {url} (HTTP {response.status_code}): {advice}",
        backend=backend,
        status_code=response.status_code,
    )
