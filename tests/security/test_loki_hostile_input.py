"""Security checklist rows 40 and 44 against loki-mcp's embedded store, served for real.

Row 40: a regular expression with catastrophic backtracking in a LogQL line filter or label
matcher is matched in linear time, so `/healthz` and other calls stay responsive while it runs.
Row 44: times past 2262 or before 1970, ranges like `[999999d]` and over-long lines are clear
400s (or truncations said on the entry), never a 500.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import cramjam
import httpx
import pytest
from mcp import Client
from support.issuer import TestIssuer
from support.mcp_session import call, call_error, token_session
from support.served import ServedComponent

pytestmark = pytest.mark.integration

MAX_LINE_CHARS = 1000
# Python's `re` takes seconds on `^(a+)+$` over this many a's followed by a non-match, doubling per a.
EVIL_SUBJECT = "a" * 27 + "!"
EVIL_PATTERN = "^(a+)+$"
HEALTHZ_BOUND_SECONDS = 1.0


def api(served: ServedComponent, path: str) -> str:
    return f"{served.url}/loki/api/v1/{path}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def json_push(service: str, values: list[list[str]]) -> bytes:
    return json.dumps({"streams": [{"stream": {"service": service}, "values": values}]}).encode()


@pytest.fixture(scope="module")
def loki(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedComponent]:
    settings = {
        "LOKI_URL": "",
        "SRE_DATA_DIR": str(tmp_path_factory.mktemp("loki-data")),
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        "SRE_REQUESTS_PER_SECOND": "1000000",
        "LOKI_MCP_LOCAL_MAX_LINE_CHARS": str(MAX_LINE_CHARS),
    }
    with ServedComponent("loki-mcp", settings, tmp_path_factory.mktemp("served")) as component:
        yield component


@pytest.fixture(scope="module")
def token(issuer: TestIssuer, loki: ServedComponent) -> str:
    return issuer.mint(loki.mcp_url, ["logs:read", "logs:write"])


@pytest.fixture(scope="module")
def evil_stream(http: httpx.Client, loki: ServedComponent, token: str) -> None:
    """A line and a label value on which `^(a+)+$` backtracks for seconds in Python's `re`."""
    now = time.time_ns()
    body = json.dumps(
        {
            "streams": [
                {"stream": {"service": "evil"}, "values": [[str(now - 10**9), EVIL_SUBJECT]]},
                {"stream": {"service": "evil", "pod": EVIL_SUBJECT}, "values": [[str(now - 10**9), "x"]]},
            ]
        }
    )
    response = http.post(api(loki, "push"), content=body, headers={"Content-Type": "application/json", **bearer(token)})
    assert response.status_code == 204, response.text


def slowest_healthz_while(loki: ServedComponent, work: Callable[[], Any]) -> tuple[Any, float]:
    """`work()`'s result and the slowest `/healthz` answer seen while it ran in another thread."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # surfaced in the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    slowest = 0.0
    with httpx.Client(timeout=30.0, trust_env=False) as probe:
        worker.start()
        deadline = time.monotonic() + 60
        while worker.is_alive() and time.monotonic() < deadline:
            started = time.monotonic()
            assert probe.get(f"{loki.url}/healthz").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not worker.is_alive(), "the query did not finish within 60 s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], slowest


@pytest.mark.parametrize(
    "query",
    [f'{{service="evil"}} |~ "{EVIL_PATTERN}"', f'{{service="evil", pod=~"{EVIL_PATTERN}"}}'],
    ids=["line-filter", "label-matcher"],
)
def test_row_40_catastrophic_regex_over_the_loki_api_keeps_healthz_responsive(
    loki: ServedComponent, token: str, evil_stream: None, query: str
) -> None:
    def query_range() -> httpx.Response:
        with httpx.Client(timeout=60.0, trust_env=False) as client:
            return client.get(api(loki, "query_range"), params={"query": query}, headers=bearer(token))

    response, slowest = slowest_healthz_while(loki, query_range)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["result"] == []
    assert slowest < HEALTHZ_BOUND_SECONDS


def test_row_40_catastrophic_regex_through_the_mcp_tool_keeps_healthz_responsive(
    loki: ServedComponent, token: str, evil_stream: None
) -> None:
    async def query(client: Client) -> dict[str, Any]:
        return await call(client, "loki_query_logs", query=f'{{service="evil"}} |~ "{EVIL_PATTERN}"', start="now-1h")

    result, slowest = slowest_healthz_while(loki, lambda: over_mcp(loki, token, query))

    assert result["streams"] == []
    assert slowest < HEALTHZ_BOUND_SECONDS


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [(r"(a)\\1", "a backreference"), ("(?=a)", "a lookahead"), ("(?<!a)b", "a negative lookbehind")],
)
def test_row_40_a_pattern_re2_cannot_run_is_400_naming_the_construct(
    http: httpx.Client, loki: ServedComponent, token: str, pattern: str, construct: str
) -> None:
    for query in (f'{{service="evil"}} |~ "{pattern}"', f'{{service=~"{pattern}"}}'):
        response = http.get(api(loki, "query_range"), params={"query": query}, headers=bearer(token))
        assert response.status_code == 400, response.text
        assert construct in response.text
        assert "RE2" in response.text


# --- row 44: times and ranges ------------------------------------------------------------------

FAR_FUTURE_NS = str(300 * 365 * 86400 * 10**9)  # 2270
NEGATIVE_NS = "-1000000000"


@pytest.mark.parametrize("timestamp", [FAR_FUTURE_NS, "99999999999999999999", NEGATIVE_NS])
def test_row_44_json_push_with_a_time_outside_1970_to_2262_is_400_naming_the_entry(
    http: httpx.Client, loki: ServedComponent, token: str, timestamp: str
) -> None:
    body = json_push("time-json", [[str(time.time_ns()), "fine"], [timestamp, "out of range"]])
    response = http.post(api(loki, "push"), content=body, headers={"Content-Type": "application/json", **bearer(token)})

    assert response.status_code == 400, response.text
    assert "streams[0].values[1]" in response.text
    assert "2262-04-11" in response.text
    assert stored(http, loki, token, "time-json") == []


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are ten-byte two's complement varints
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def protobuf_push(labels: str, seconds: int, line: str) -> bytes:
    timestamp = _varint(1 << 3) + _varint(seconds)
    entry = _field(1, timestamp) + _field(2, line.encode())
    return bytes(cramjam.snappy.compress_raw(_field(1, _field(1, labels.encode()) + _field(2, entry))))


@pytest.mark.parametrize("seconds", [300 * 365 * 86400, -86400])
def test_row_44_protobuf_push_with_a_time_outside_1970_to_2262_is_400(
    http: httpx.Client, loki: ServedComponent, token: str, seconds: int
) -> None:
    body = protobuf_push('{service="time-proto"}', seconds, "out of range")
    response = http.post(
        api(loki, "push"), content=body, headers={"Content-Type": "application/x-protobuf", **bearer(token)}
    )

    assert response.status_code == 400, response.text
    assert "streams[0].entries[0]" in response.text
    assert "1970-01-01" in response.text
    assert stored(http, loki, token, "time-proto") == []


@pytest.mark.parametrize(
    ("path", "params", "problem"),
    [
        ("query_range", {"query": 'count_over_time({service="evil"}[999999d])'}, "out of range"),
        ("query", {"query": 'count_over_time({service="evil"}[999999d])'}, "out of range"),
        ("query", {"query": 'count_over_time({service="evil"}[5m])', "time": "99999999999999999999"}, "time"),
        ("query_range", {"query": '{service="evil"}', "end": "9999999999"}, "end"),
        ("query_range", {"query": '{service="evil"}', "start": "-99999999999"}, "start"),
        ("query_range", {"query": 'count_over_time({service="evil"}[5m])', "step": "1e300"}, "step"),
        ("query_range", {"query": 'count_over_time({service="evil"}[5m])', "step": "99999999999999d"}, "step"),
        ("labels", {"start": "99999999999999999999"}, "start"),
    ],
)
def test_row_44_a_time_or_range_out_of_bounds_in_a_query_is_400_naming_it(
    http: httpx.Client, loki: ServedComponent, token: str, path: str, params: dict[str, str], problem: str
) -> None:
    response = http.get(api(loki, path), params=params, headers=bearer(token))

    assert response.status_code == 400, response.text
    assert problem in response.text


def test_row_44_an_over_long_pushed_line_is_truncated_and_marked(
    http: httpx.Client, loki: ServedComponent, token: str
) -> None:
    line = "x" * (MAX_LINE_CHARS * 5)
    body = json_push("long-line", [[str(time.time_ns() - 10**9), line]])
    response = http.post(api(loki, "push"), content=body, headers={"Content-Type": "application/json", **bearer(token)})
    assert response.status_code == 204, response.text

    read = http.get(
        api(loki, "query_range"),
        params={"query": '{service="long-line"} | truncated_from != ""'},
        headers=bearer(token),
    )
    assert read.status_code == 200, read.text
    [stream] = read.json()["data"]["result"]
    [[_, stored_line]] = stream["values"]
    assert stored_line == "x" * MAX_LINE_CHARS
    assert stream["stream"]["truncated_from"] == str(len(line))


async def _numeric_times(client: Client) -> tuple[dict[str, Any], dict[str, Any], str]:
    now = int(time.time())
    logs = await call(client, "loki_query_logs", query='{service="evil"} |= "!"', start=now - 3600, end=now)
    metrics = await call(
        client, "loki_query_metrics", query='count_over_time({service="evil"}[5m])', start=now - 3600.5, end=now
    )
    far = await call_error(client, "loki_query_logs", query='{service="evil"}', start="now-1h", end=1e12)
    return logs, metrics, far


def test_row_44_tool_times_take_unix_seconds_as_numbers_and_refuse_out_of_range_ones(
    loki: ServedComponent, token: str, evil_stream: None
) -> None:
    logs, metrics, far = over_mcp(loki, token, _numeric_times)

    assert [line["line"] for stream in logs["streams"] for line in stream["lines"]] == [EVIL_SUBJECT]
    assert metrics["series"]
    assert "end" in far
    assert "2262-04-11" in far


# --- helpers -----------------------------------------------------------------------------------


def stored(http: httpx.Client, loki: ServedComponent, token: str, service: str) -> list[str]:
    response = http.get(
        api(loki, "query_range"), params={"query": f'{{service="{service}"}}', "limit": "5000"}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return [value[1] for stream in response.json()["data"]["result"] for value in stream["values"]]


def over_mcp(loki: ServedComponent, token: str, use: Callable[[Client], Any]) -> Any:
    async def run() -> Any:
        async with token_session(loki.mcp_url, token, trust_env=False, timeout=60.0) as client:
            return await use(client)

    return anyio.run(run)


def test_row_44_a_range_past_any_duration_through_the_metric_tool_is_a_tool_error(
    loki: ServedComponent, token: str
) -> None:
    async def query(client: Client) -> str:
        return await call_error(client, "loki_query_metrics", query='count_over_time({service="evil"}[999999d])')

    message = over_mcp(loki, token, query)

    assert "duration out of range" in message
