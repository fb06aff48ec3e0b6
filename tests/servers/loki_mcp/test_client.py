"""The Loki client against real Loki responses (replayed: Loki cannot be installed here)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from support.loki_fixtures import FIXTURES_DIR, Recording, Replay, recording, recordings, replay_http

from common.errors import BackendFailed, BackendRejected, BackendTimeout, BackendUnavailable, InputError
from common.metrics import ServerMetrics
from common.settings import Upstream
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.models import IndexStats, LogQueryResult, MetricResult, PushEntry, PushStream

pytestmark = pytest.mark.anyio

START_NS = 1795293140275970300
END_NS = 1795301000275970300


@asynccontextmanager
async def replayed(*names: str, tenant: str | None = None, **options: Any) -> AsyncIterator[tuple[LokiClient, Replay]]:
    replay = Replay(tuple(recording(name) for name in names))
    upstream = Upstream(name="loki", url="http://127.0.0.1:3100", tenant=tenant)
    client = LokiClient(upstream, timeout=5.0, http_client=replay_http(upstream, replay), **options)
    try:
        yield client, replay
    finally:
        await client.aclose()


async def call_recorded(client: LokiClient, rec: Recording) -> Any:
    """The client call that sends exactly `rec`'s request."""
    p = dict(rec.params)
    window = {"start_ns": int(p["start"]), "end_ns": int(p["end"])} if "start" in p else {}
    step = float(p["step"]) if "step" in p else None
    limit = int(p["limit"]) if "limit" in p else None
    segments = rec.path.removeprefix("/loki/api/v1/").split("/")
    match segments:
        case ["query_range"]:
            return await client.query_range(
                p["query"],
                **window,
                step=step,
                limit=limit,
                direction=p.get("direction"),  # type: ignore[arg-type]
                categorize_labels=rec.header("X-Loki-Response-Encoding-Flags") == "categorize-labels",
            )
        case ["query"]:
            return await client.query(p["query"], time_ns=int(p["time"]), limit=limit, categorize_labels=False)
        case ["labels"]:
            return await client.labels(**window, query=p.get("query"))
        case ["label", name, "values"]:
            return await client.label_values(name, **window, query=p.get("query"))
        case ["series"]:
            return await client.series([v for k, v in rec.params if k == "match[]"], **window)
        case ["index", "stats"]:
            return await client.index_stats(p["query"], **window)
        case ["index", "volume"]:
            return await client.index_volume(p["query"], **window, limit=limit)
        case ["index", "volume_range"]:
            targets = p["targetLabels"].split(",") if "targetLabels" in p else ()
            return await client.index_volume_range(p["query"], **window, step=step, limit=limit, target_labels=targets)
        case ["patterns"]:
            return await client.patterns(p["query"], **window, step=step)
        case ["detected_fields"]:
            return await client.detected_fields(p["query"], **window, limit=limit)
        case ["detected_field", name, "values"]:
            return await client.detected_field_values(name, p["query"], **window, limit=limit)
        case ["detected_labels"]:
            return await client.detected_labels(p["query"], **window)
        case ["format_query"]:
            return await client.format_query(p["query"])
        case ["status", "buildinfo"]:
            return await client.buildinfo()
        case ["drilldown-limits"]:
            return await client.drilldown_limits()
        case ["push"]:
            assert rec.raw_request_body is not None
            return await client.push_payload(json.loads(rec.raw_request_body))
        case _:
            # An endpoint no Loki has (the 404 recording): only the transport layer can ask for it.
            return await client._call(rec.method, rec.path)


def _log_shape(streams: list[dict[str, Any]]) -> tuple[int, int]:
    return len(streams), sum(len(stream["values"]) for stream in streams)


def _metric_shape(data: dict[str, Any]) -> tuple[str, int, int]:
    result = data["result"]
    points = sum(len(item["values"]) if "values" in item else 1 for item in result)
    return data["resultType"], len(result), points


def _parsed_metric_shape(result: MetricResult) -> tuple[str, int, int]:
    return result.result_type, len(result.series), sum(len(s.points) for s in result.series)


# What each endpoint's parsed answer must equal, computed straight from the recorded JSON.
_EXPECTED: dict[str, Callable[[Any, Any], tuple[Any, Any]]] = {
    "query": lambda parsed, raw: (
        (len(parsed.streams), parsed.entry_count)
        if isinstance(parsed, LogQueryResult)
        else _parsed_metric_shape(parsed),
        _log_shape(raw["data"]["result"]) if raw["data"]["resultType"] == "streams" else _metric_shape(raw["data"]),
    ),
    "labels": lambda parsed, raw: (list(parsed), raw["data"]),
    "series": lambda parsed, raw: (list(parsed), raw["data"]),
    "index/stats": lambda parsed, raw: (vars(parsed), raw),
    "index/volume": lambda parsed, raw: (_parsed_metric_shape(parsed), _metric_shape(raw["data"])),
    "patterns": lambda parsed, raw: (
        [(p.pattern, p.level, [list(s) for s in p.samples]) for p in parsed],
        [(p["pattern"], p["level"], p["samples"]) for p in raw["data"]],
    ),
    "detected_fields": lambda parsed, raw: ([f.label for f in parsed], [f["label"] for f in raw["fields"]]),
    "detected_field": lambda parsed, raw: (list(parsed), raw["values"]),
    "detected_labels": lambda parsed, raw: (list(parsed), raw.get("detectedLabels", [])),
    "format_query": lambda parsed, raw: (parsed, raw["data"]),
    "status/buildinfo": lambda parsed, raw: (parsed.version, raw["version"]),
    "drilldown-limits": lambda parsed, raw: (parsed.limits, raw["limits"]),
}


def _expectation(path: str) -> Callable[[Any, Any], tuple[Any, Any]]:
    key = path.removeprefix("/loki/api/v1/")
    key = re.sub(r"^label/[^/]+/values$", "labels", key)
    key = re.sub(r"^detected_field/[^/]+/values$", "detected_field", key)
    return _EXPECTED[{"query_range": "query", "index/volume_range": "index/volume"}.get(key, key)]


@pytest.mark.parametrize("rec", recordings(), ids=lambda rec: rec.name)
async def test_every_recorded_response_parses_or_raises_lokis_own_message(rec: Recording) -> None:
    async with replayed(
        rec.name,
        tenant=rec.header("X-Scope-OrgID"),
        # The one recorded POST query stands for long queries, which go as a form.
        post_query_above=0 if rec.method == "POST" and rec.path.endswith("query_range") else 2048,
    ) as (client, replay):
        if rec.status >= 400:
            with pytest.raises(BackendRejected) as caught:
                await call_recorded(client, rec)
            assert caught.value.status_code == rec.status
            assert rec.body.decode().strip() in str(caught.value)
        else:
            parsed = await call_recorded(client, rec)
            got, expected = _expectation(rec.path)(parsed, rec.json())
            assert got == expected
    assert len(replay.requests) == 1


def test_every_fixture_file_is_replayed() -> None:
    files = {path.name for path in FIXTURES_DIR.iterdir() if path.suffix in (".json", ".txt")}
    files -= {"index.json", "README.txt", "push_body_checkout.json", "push_body_payments.json"}
    files = {name for name in files if not name.endswith(".headers.txt")}
    assert files == {rec.file for rec in recordings()}
    assert len(recordings()) == 43


async def test_default_encoding_merges_structured_metadata_into_one_stream_per_trace() -> None:
    async with replayed("query_range_logs_line_filter") as (client, _):
        result = await client.query_logs(
            '{service="checkout"} |= "connection refused"',
            start_ns=START_NS,
            end_ns=END_NS,
            limit=100,
            direction="backward",
            categorize_labels=False,
        )
    assert (len(result.streams), result.entry_count) == (57, 57)
    assert not result.truncated
    assert not result.categorized
    first = result.streams[0]
    assert first.labels["trace_id"] == "0556daea67b032831d7c00984a1dab32"
    assert first.entries[0].timestamp_ns == 1795300094275970300
    assert "connection refused to db:5432" in first.entries[0].line
    assert first.entries[0].structured_metadata == {}


async def test_query_range_reports_truncation_when_entries_reach_the_limit() -> None:
    async with replayed("query_range_logs_limit_truncated") as (client, _):
        result = await client.query_range(
            '{namespace="prod"}',
            start_ns=START_NS,
            end_ns=END_NS,
            limit=5,
            direction="backward",
            categorize_labels=False,
        )
    assert isinstance(result, LogQueryResult)
    assert (len(result.streams), result.entry_count, result.limit) == (3, 5, 5)
    assert result.truncated
    merged = result.merged()
    assert [entry.timestamp_ns for _, entry in merged] == [
        1795300918275970300,
        1795300910275970300,
        1795300885275970300,
        1795300873775970300,
        1795300872275970300,
    ]
    assert merged[1][0]["service"] == "payments"
    assert merged[1][1].line.startswith('level=info caller=PaymentHandler.java:88 msg="payment authorized"')


async def test_categorized_answer_separates_structured_metadata_and_parsed_labels() -> None:
    async with replayed("query_range_logs_categorize_labels") as (client, replay):
        result = await client.query_logs(
            '{service="checkout", level="error"} | json', start_ns=START_NS, end_ns=END_NS, limit=3
        )
    assert replay.requests[0].headers["X-Loki-Response-Encoding-Flags"] == "categorize-labels"
    assert result.categorized
    assert result.truncated
    [stream] = result.streams
    assert stream.labels == {"level": "error", "namespace": "prod", "service": "checkout", "service_name": "checkout"}
    entry = stream.entries[0]
    assert entry.timestamp_ns == 1795300799275970300
    assert entry.structured_metadata == {"detected_level": "error", "trace_id": "4f3949a83d3a258288b4f4743be79df4"}
    assert entry.parsed["status"] == "500"
    assert entry.parsed["trace_id_extracted"] == "4f3949a83d3a258288b4f4743be79df4"


async def test_forward_query_keeps_oldest_first_and_empty_result_is_not_an_error() -> None:
    async with replayed("query_range_logs_forward", "query_range_logs_empty") as (client, _):
        forward = await client.query_logs(
            '{service="payments"} |~ "OutOfMemoryError|NullPointerException"',
            start_ns=START_NS,
            end_ns=END_NS,
            limit=10,
            direction="forward",
            categorize_labels=False,
        )
        empty = await client.query_logs(
            '{service="does-not-exist"}', start_ns=START_NS, end_ns=END_NS, limit=100, categorize_labels=False
        )
    stamps = [entry.timestamp_ns for _, entry in forward.merged()]
    assert stamps[0] == 1795299980275970300
    assert stamps == sorted(stamps)
    assert len(stamps) == 10
    assert empty.streams == ()
    assert not empty.truncated


async def test_a_long_query_goes_as_a_post_form() -> None:
    async with replayed("query_range_logs_post_form", post_query_above=0) as (client, replay):
        result = await client.query_logs(
            '{service="checkout"} |= "connection refused"',
            start_ns=START_NS,
            end_ns=END_NS,
            limit=3,
            categorize_labels=False,
        )
    assert replay.requests[0].method == "POST"
    assert result.entry_count == 3
    assert result.truncated


async def test_metric_queries_parse_into_prometheus_style_points() -> None:
    async with replayed("query_instant_metric", "query_range_metric_rate", "query_range_metric_count_by_level") as (
        client,
        _,
    ):
        instant = await client.query(
            'sum by (service, level) (count_over_time({namespace="prod"}[20m]))',
            time_ns=END_NS,
            categorize_labels=False,
        )
        rate = await client.query_metrics(
            'sum by (service) (rate({namespace="prod", level="error"}[5m]))',
            start_ns=START_NS,
            end_ns=END_NS,
            step=60,
            categorize_labels=False,
        )
        with pytest.raises(InputError, match="metric query"):
            await client.query_logs(
                'sum by (level) (count_over_time({namespace="prod"}[5m]))',
                start_ns=START_NS,
                end_ns=END_NS,
                step=60,
                categorize_labels=False,
            )
    assert isinstance(instant, MetricResult)
    assert instant.result_type == "vector"
    assert len(instant.series) == 4
    assert instant.series[0].labels == {"level": "error", "service": "checkout"}
    assert instant.series[0].points == ((1795301000.275, 57.0),)
    assert rate.result_type == "matrix"
    assert [s.labels["service"] for s in rate.series] == ["checkout", "payments"]
    assert rate.series[0].points[0] == (1795299900.0, 0.013333333333333334)
    assert len(rate.series[0].points) == 20


async def test_parse_error_is_rejected_with_lokis_message() -> None:
    async with replayed("error_parse_400") as (client, _):
        with pytest.raises(BackendRejected) as caught:
            await client.query_range(
                '{service="checkout"} |= ', start_ns=START_NS, end_ns=END_NS, categorize_labels=False
            )
    message = str(caught.value)
    assert "parse error at line 1, col 25: syntax error: unexpected $end, expecting STRING or ip" in message
    assert message.startswith("Loki backend 'loki' rejected the request (HTTP 400)")
    assert "Fix the LogQL" in message
    assert caught.value.status_code == 400
    assert caught.value.backend == "loki"


async def test_limit_and_range_errors_say_what_to_change() -> None:
    async with replayed("error_limit_too_large_400", "error_range_too_long_400") as (client, _):
        with pytest.raises(BackendRejected, match=r"10000 > 5000\)\. Lower `limit`"):
            await client.query_range(
                '{service="checkout"}', start_ns=START_NS, end_ns=END_NS, limit=10000, categorize_labels=False
            )
        with pytest.raises(BackendRejected, match=r"limit: 30d1h\)\. Shorten the time range"):
            await client.query_range(
                '{service="checkout"}', start_ns=1792622540275970300, end_ns=END_NS, limit=10, categorize_labels=False
            )


async def test_index_stats_zeros_before_flush_are_an_answer() -> None:
    async with replayed("index_stats_before_flush") as (client, _):
        stats = await client.index_stats('{namespace="prod"}', start_ns=START_NS, end_ns=END_NS)
    assert stats == IndexStats(streams=0, chunks=0, bytes=0, entries=0)
    assert stats.empty


async def test_index_stats_and_volume_after_flush() -> None:
    async with replayed("index_stats", "index_volume_range") as (client, _):
        stats = await client.index_stats('{namespace="prod"}', start_ns=START_NS, end_ns=END_NS)
        volume = await client.index_volume_range(
            '{namespace="prod"}', start_ns=START_NS, end_ns=END_NS, step=1800, target_labels=["service"]
        )
    assert stats == IndexStats(streams=6, chunks=6, bytes=136192, entries=689)
    assert not stats.empty
    assert volume.result_type == "matrix"
    assert volume.series[0].labels == {"service": "checkout"}
    assert volume.series[0].points[0] == (1795294799.999, 9216.0)


async def test_patterns_have_templates_levels_and_counts() -> None:
    async with replayed("patterns_payments") as (client, _):
        patterns = await client.patterns('{service="payments"}', start_ns=START_NS, end_ns=END_NS)
    assert [(p.level, p.total) for p in patterns] == [("info", 203), ("info", 88), ("error", 30)]
    assert patterns[2].pattern.startswith('level=error caller=Worker.java:210 msg="worker crashed"')
    assert "heap_used_mb=<_>" in patterns[2].pattern
    assert not any("NullPointerException" in p.pattern for p in patterns)


async def test_discovery_endpoints() -> None:
    names = ("labels", "label_level_values_filtered", "series", "detected_fields", "detected_field_values")
    async with replayed(*names) as (client, _):
        labels = await client.labels(start_ns=START_NS, end_ns=END_NS)
        levels = await client.label_values("level", start_ns=START_NS, end_ns=END_NS, query='{service="payments"}')
        series = await client.series(['{namespace="prod"}'], start_ns=START_NS, end_ns=END_NS)
        fields = await client.detected_fields('{service="checkout"}', start_ns=START_NS, end_ns=END_NS)
        paths = await client.detected_field_values("path", '{service="checkout"}', start_ns=START_NS, end_ns=END_NS)
    assert labels == ("level", "namespace", "service", "service_name")
    assert levels == ("error", "info", "warn")
    assert len(series) == 6
    assert {s["service"] for s in series} == {"checkout", "payments"}
    duration = next(f for f in fields if f.label == "duration_ms")
    assert (duration.type, duration.cardinality, duration.parsers, duration.json_path) == (
        "int",
        46,
        ("json",),
        ("duration_ms",),
    )
    assert next(f for f in fields if f.label == "detected_level").parsers == ()
    assert "/api/checkout" in paths
    assert len(paths) == 5


async def test_drilldown_limits_need_a_tenant() -> None:
    async with replayed("error_drilldown_limits_no_org_401") as (client, _):
        with pytest.raises(BackendRejected) as caught:
            await client.drilldown_limits()
    assert "no org id" in str(caught.value)
    assert "set the backend's tenant" in str(caught.value)
    async with replayed("drilldown_limits", tenant="fake") as (client, replay):
        limits = await client.drilldown_limits()
    assert replay.requests[0].headers["X-Scope-OrgID"] == "fake"
    assert limits.limits["max_entries_limit_per_query"] == 5000
    assert limits.pattern_ingester_enabled
    assert limits.version == "main-65e30f8"


async def test_push_sends_lokis_json_format_with_structured_metadata() -> None:
    recorded = json.loads((FIXTURES_DIR / "push_body_checkout.json").read_text())
    streams = [
        PushStream(
            labels=s["stream"],
            entries=tuple(PushEntry(int(v[0]), v[1], v[2] if len(v) > 2 else {}) for v in s["values"]),
        )
        for s in recorded["streams"]
    ]
    bodies: list[Any] = []

    def loki(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/loki/api/v1/push")
        assert request.headers["Content-Type"] == "application/json"
        bodies.append(json.loads(request.content))
        return httpx.Response(204)

    async with _client(loki) as client:
        await client.push(streams)
    assert bodies == [recorded]


async def test_push_rejection_carries_lokis_message() -> None:
    async with replayed("push_error_invalid_labels_400") as (client, _):
        with pytest.raises(BackendRejected, match="unexpected character inside braces: '-'"):
            await client.push(
                [PushStream({"service": "checkout", "bad-label": "x"}, (PushEntry(1795300940275970300, "hello"),))]
            )


# --- failures no recording shows ------------------------------------------------------------------


@asynccontextmanager
async def _client(handler: Callable[[httpx.Request], Any], **options: Any) -> AsyncIterator[LokiClient]:
    upstream = Upstream(name="loki", url="http://127.0.0.1:3100")
    http = httpx.AsyncClient(base_url=upstream.url, transport=httpx.MockTransport(handler))
    client = LokiClient(upstream, **{"timeout": 5.0, "http_client": http, **options})
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (500, "internal error: rpc error", BackendFailed, "failed (HTTP 500): internal error: rpc error"),
        (504, "", BackendTimeout, "gave up on the query (HTTP 504"),
        (503, "context deadline exceeded", BackendTimeout, "context deadline exceeded"),
        (429, "too many outstanding requests", BackendRejected, "Wait a little"),
        (200, "<html>not loki</html>", BackendFailed, "not a Loki API response"),
        (200, '{"status":"success","data":{"resultType":"streams","result":[{"stream":{}}]}}', BackendFailed, "shape"),
    ],
)
async def test_server_failures_map_onto_the_error_classes(
    status: int, body: str, error: type[Exception], text: str
) -> None:
    async with _client(lambda _: httpx.Response(status, text=body)) as client:
        with pytest.raises(error) as caught:
            await client.query_range('{service="x"}', start_ns=START_NS, end_ns=END_NS)
    assert text in str(caught.value)


async def test_secrets_in_error_bodies_are_redacted() -> None:
    body = "bad request from proxy: Authorization: Bearer abcdefghijklmnop password=hunter2"
    async with _client(lambda _: httpx.Response(400, text=body)) as client:
        with pytest.raises(BackendRejected) as caught:
            await client.labels(start_ns=START_NS, end_ns=END_NS)
    message = str(caught.value)
    assert "abcdefghijklmnop" not in message
    assert "hunter2" not in message
    assert "[REDACTED]" in message


async def test_unreachable_backend_says_how_to_fix_it() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    async with _client(refuse) as client:
        with pytest.raises(BackendUnavailable, match=r"could not be reached .*Check that it is running"):
            await client.buildinfo()


async def test_a_hanging_backend_times_out_at_the_deadline() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await anyio.Event().wait()
        raise AssertionError("unreachable")

    async with _client(hang, timeout=0.2) as client:
        with anyio.fail_after(5), pytest.raises(BackendTimeout, match=r"did not answer within 0\.2s"):
            await client.labels(start_ns=START_NS, end_ns=END_NS)


async def test_an_oversized_answer_is_dropped_and_counted() -> None:
    metrics = ServerMetrics("loki-mcp")
    big = json.dumps({"status": "success", "data": ["x" * 5000]})
    async with _client(lambda _: httpx.Response(200, text=big), max_response_bytes=1000, metrics=metrics) as client:
        with pytest.raises(BackendRejected, match="more than 1,000 bytes"):
            await client.label_values("service", start_ns=START_NS, end_ns=END_NS)
    sample = metrics.registry.get_sample_value(
        "sre_upstream_requests_total",
        {"component": "loki-mcp", "backend": "loki", "endpoint": "/loki/api/v1/label/values", "outcome": "invalid"},
    )
    assert sample == 1.0
