"""The embedded log store answers as the real Loki did (tests/fixtures/loki), request for request.

The two recorded push bodies go through `POST /loki/api/v1/push` into a `SqliteLogStore`, then
every recorded request whose path the embedded store serves is replayed and its answer compared
with Loki's. Only `stats` blocks are dropped: they describe Loki's chunks, caches and queriers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from support.loki_fixtures import FIXTURES_DIR, Recording, recordings

from common.settings import Upstream
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.local.api import BUILD_VERSION, loki_api_routes
from servers.loki_mcp.local.store import SqliteLogStore
from servers.loki_mcp.models import IndexStats, LogQueryResult, MetricResult

pytestmark = pytest.mark.anyio

START_NS = 1795293140275970300
END_NS = 1795301000275970300
API = "/loki/api/v1"

# Answered exactly as Loki did (data equal, stats aside).
EXACT = {
    "query_range_logs_line_filter",
    "query_range_logs_json_parsed",
    "query_range_logs_limit_truncated",
    "query_range_logs_forward",
    "query_range_logs_categorize_labels",
    "query_range_logs_empty",
    "query_range_logs_post_form",
    "query_range_metric_count_by_level",
    "query_range_metric_rate",
    "query_instant_metric",
    "query_instant_metric_topk_errors",
    "labels",
    "label_service_values",
    "label_level_values_filtered",
}
# Valid LogQL outside the subset, with the construct the 400 must name.
UNSUPPORTED = {
    "query_range_logs_logfmt_parsed": "line_format",
    "query_range_metric_unwrap_quantile": "quantile_over_time",
    "query_instant_vector_scalar": "vector()",
}
# Loki's errors, which the embedded store gives with the same status and text.
ERRORS = {
    "error_parse_400",
    "error_parse_metric_400",
    "error_range_too_long_400",
    "error_limit_too_large_400",
    "error_instant_log_query_400",
    "error_empty_matcher_400",
    "error_too_many_points_400",
    "error_end_before_start_400",
    "error_not_found_404",
}
# Checked one by one below, each with the reason it cannot equal Loki's answer.
CLOSEST = {
    "buildinfo",
    "series",
    "index_stats",
    "index_stats_before_flush",
    "index_volume",
    "patterns_payments",
    "patterns_checkout",
    "push_error_invalid_labels_400",
    "push_error_malformed_json_400",
}
# Loki APIs the embedded store does not offer: it answers them 404, as a Loki without them would.
NOT_SERVED = {
    "index_volume_range",
    "detected_fields",
    "detected_fields_logfmt",
    "detected_field_values",
    "detected_labels",
    "format_query",
    "error_drilldown_limits_no_org_401",
    "drilldown_limits",
}


def _by_name(names: set[str]) -> list[Recording]:
    return [r for r in recordings() if r.name in names]


@asynccontextmanager
async def local_loki(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the embedded store's API, with the two recorded bodies pushed."""
    async with SqliteLogStore(tmp_path / "logs.db") as store:
        app = Starlette(routes=[Mount(API, routes=loki_api_routes(store, max_push_bytes=4_000_000))])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as client:
            for name in ("checkout", "payments"):
                body = (FIXTURES_DIR / f"push_body_{name}.json").read_bytes()
                pushed = await client.post(f"{API}/push", content=body, headers={"Content-Type": "application/json"})
                assert pushed.status_code == 204, pushed.text
            yield client


async def replay(client: httpx.AsyncClient, rec: Recording) -> httpx.Response:
    headers = {k: v for k, v in rec.request_headers.items() if k.lower() != "content-type"}
    if rec.raw_request_body is not None:
        return await client.post(
            rec.path, content=rec.raw_request_body.encode(), headers={"Content-Type": "application/json"}
        )
    if rec.method == "POST":
        return await client.post(rec.path, data=dict(rec.params), headers=headers)
    return await client.get(rec.path, params=list(rec.params), headers=headers)


def without_stats(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_stats(v) for k, v in value.items() if k != "stats"}
    if isinstance(value, list):
        return [without_stats(v) for v in value]
    return value


def pushed_line_bytes() -> int:
    total = 0
    for name in ("checkout", "payments"):
        body = json.loads((FIXTURES_DIR / f"push_body_{name}.json").read_text())
        total += sum(len(value[1].encode()) for stream in body["streams"] for value in stream["values"])
    return total


def test_every_recording_is_checked() -> None:
    classified = EXACT | set(UNSUPPORTED) | ERRORS | CLOSEST | NOT_SERVED
    assert {r.name for r in recordings()} == classified


@pytest.mark.parametrize("rec", _by_name(EXACT), ids=lambda r: r.name)
async def test_supported_queries_answer_as_loki_did(tmp_path: Path, rec: Recording) -> None:
    async with local_loki(tmp_path) as client:
        answer = await replay(client, rec)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert without_stats(answer.json()) == without_stats(rec.json())


@pytest.mark.parametrize("rec", _by_name(set(UNSUPPORTED)), ids=lambda r: r.name)
async def test_queries_outside_the_subset_are_refused_naming_the_construct(tmp_path: Path, rec: Recording) -> None:
    async with local_loki(tmp_path) as client:
        answer = await replay(client, rec)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/plain")
    assert UNSUPPORTED[rec.name] in answer.text
    assert "LOKI_URL" in answer.text


@pytest.mark.parametrize("rec", _by_name(ERRORS), ids=lambda r: r.name)
async def test_errors_match_lokis_status_and_text(tmp_path: Path, rec: Recording) -> None:
    async with local_loki(tmp_path) as client:
        answer = await replay(client, rec)
    assert answer.status_code == rec.status
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text.strip() == rec.body.decode().strip()


@pytest.mark.parametrize("rec", _by_name(NOT_SERVED), ids=lambda r: r.name)
async def test_apis_the_store_does_not_offer_answer_404(tmp_path: Path, rec: Recording) -> None:
    async with local_loki(tmp_path) as client:
        answer = await replay(client, rec)
    assert (answer.status_code, answer.text) == (404, "404 page not found\n")


async def test_buildinfo_has_lokis_shape_and_names_the_embedded_store(tmp_path: Path) -> None:
    (rec,) = _by_name({"buildinfo"})
    async with local_loki(tmp_path) as client:
        answer = (await replay(client, rec)).json()
    assert set(answer) == set(rec.json())
    assert answer["version"] == BUILD_VERSION


async def test_series_are_lokis_in_another_order(tmp_path: Path) -> None:
    # Loki lists series in the order of its label fingerprints (a hash); here they are sorted.
    (rec,) = _by_name({"series"})
    async with local_loki(tmp_path) as client:
        answer = (await replay(client, rec)).json()
    assert answer["status"] == "success"
    assert sorted(answer["data"], key=json.dumps) == sorted(rec.json()["data"], key=json.dumps)


@pytest.mark.parametrize("name", ["index_stats", "index_stats_before_flush"])
async def test_index_stats_count_streams_and_entries_as_loki(tmp_path: Path, name: str) -> None:
    # Loki's `bytes` are the block-rounded sizes of its chunks (136192 here) and it reads zero for
    # data not yet flushed (index_stats_before_flush); the embedded store counts line bytes at once.
    (rec,) = _by_name({name})
    flushed = _by_name({"index_stats"})[0].json()
    async with local_loki(tmp_path) as client:
        answer = (await replay(client, rec)).json()
    assert answer == {
        "streams": flushed["streams"],
        "chunks": flushed["streams"],
        "bytes": pushed_line_bytes(),
        "entries": flushed["entries"],
    }


async def test_index_volume_groups_as_loki_with_line_bytes(tmp_path: Path) -> None:
    # Same grouping and timestamp as Loki; the value is line bytes, not chunk sizes (see above).
    (rec,) = _by_name({"index_volume"})
    async with local_loki(tmp_path) as client:
        answer = without_stats((await replay(client, rec)).json())
    expected = without_stats(rec.json())
    expected["data"]["result"][0]["value"][1] = str(pushed_line_bytes())
    assert answer == expected


@pytest.mark.parametrize("name", ["patterns_payments", "patterns_checkout"])
async def test_patterns_count_lokis_templates_in_the_same_steps(tmp_path: Path, name: str) -> None:
    # Templates are mined by `analysis.templates`, not Loki's drain, so their text differs (JSON
    # keys' values all become <_>) and rare templates Loki's ingester drops are kept. Each of
    # Loki's templates has a local one of the same level with the same non-zero counts in the same
    # steps; Loki leaves out some zero steps where its pattern chunks break.
    (rec,) = _by_name({name})
    async with local_loki(tmp_path) as client:
        answer = (await replay(client, rec)).json()
    assert answer["status"] == "success"
    local = answer["data"]
    for pattern in rec.json()["data"]:
        loki_samples = dict(pattern["samples"])
        matches = [
            p
            for p in local
            if p["level"] == pattern["level"]
            and {ts: c for ts, c in p["samples"] if c} == {ts: c for ts, c in loki_samples.items() if c}
        ]
        assert len(matches) == 1, pattern["pattern"]
        assert set(loki_samples) <= {ts for ts, _ in matches[0]["samples"]}
        assert "<_>" in matches[0]["pattern"]


@pytest.mark.parametrize(
    ("name", "meaning"),
    [("push_error_invalid_labels_400", "couldn't parse labels"), ("push_error_malformed_json_400", "timestamp")],
)
async def test_bad_pushes_are_refused_as_loki_does(tmp_path: Path, name: str, meaning: str) -> None:
    # Loki's texts come from its Go parsers (a position in the label text, a JSON decoder's
    # trace); the embedded store says the same thing in its own words.
    (rec,) = _by_name({name})
    async with local_loki(tmp_path) as client:
        answer = await replay(client, rec)
    assert answer.status_code == rec.status == 400
    assert meaning in answer.text


async def test_push_over_the_size_limit_is_refused_with_413(tmp_path: Path) -> None:
    async with SqliteLogStore(tmp_path / "logs.db") as store:
        app = Starlette(routes=[Mount(API, routes=loki_api_routes(store, max_push_bytes=100))])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://local") as client:
            body = (FIXTURES_DIR / "push_body_payments.json").read_bytes()
            answer = await client.post(f"{API}/push", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 413
        assert await store.stats([1], 0, 2**62) == (0, 0)


async def test_loki_client_reads_every_local_answer(tmp_path: Path) -> None:
    async with local_loki(tmp_path) as http:
        client = LokiClient(Upstream(name="local", url="http://local"), timeout=5.0, http_client=http)
        window = {"start_ns": START_NS, "end_ns": END_NS}

        logs = await client.query_logs('{service="checkout"} | json | status >= 500', **window, limit=20)
        assert isinstance(logs, LogQueryResult)
        assert logs.entry_count == 20
        assert logs.truncated
        assert logs.categorized
        assert all(e.parsed["status"] == "500" for s in logs.streams for e in s.entries)

        metrics = await client.query_metrics(
            'sum by (level) (count_over_time({namespace="prod"}[5m]))', **window, step=60
        )
        assert isinstance(metrics, MetricResult)
        assert {s.labels["level"] for s in metrics.series} == {"error", "info", "warn"}

        instant = await client.query('sum(count_over_time({namespace="prod"}[20m]))', time_ns=END_NS)
        assert isinstance(instant, MetricResult)
        assert instant.result_type == "vector"

        assert await client.labels(**window) == ("level", "namespace", "service", "service_name")
        assert await client.label_values("level", **window, query='{service="payments"}') == ("error", "info", "warn")
        assert len(await client.series(['{namespace="prod"}'], **window)) == 6
        stats = await client.index_stats('{namespace="prod"}', **window)
        assert stats == IndexStats(streams=6, chunks=6, bytes=pushed_line_bytes(), entries=689)
        patterns = await client.patterns('{service="payments"}', **window)
        assert patterns
        assert sum(p.total for p in patterns) == 291 + 44 + 5
        assert (await client.buildinfo()).version == BUILD_VERSION
