"""Every loki-mcp tool through a real MCP client session, over the embedded store holding a known incident."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.log_dataset import SECRET_PASSWORD, SECRET_TOKEN, LogDataset, build_log_dataset
from support.mcp_session import call, call_error, loki_session

pytestmark = pytest.mark.anyio

CHECKOUT = '{service="checkout"}'


@pytest.fixture
def dataset() -> LogDataset:
    return build_log_dataset()


async def test_tools_are_listed_read_only_with_strict_schemas(tmp_path: Path) -> None:
    async with loki_session(tmp_path) as client:
        listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == {
        "loki_query_logs",
        "loki_query_metrics",
        "loki_list_labels",
        "loki_find_streams",
        "loki_log_patterns",
        "loki_error_patterns",
        "loki_analyze_logs",
    }
    for tool in listed.tools:
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.input_schema.get("additionalProperties") is False
        assert tool.output_schema is not None


async def test_query_logs_returns_the_newest_lines_first_with_the_default_limit(
    tmp_path: Path, dataset: LogDataset
) -> None:
    async with loki_session(tmp_path, dataset.streams) as client:
        result = await call(client, "loki_query_logs", query=CHECKOUT, **dataset.window())
    streams = result["streams"]
    assert sum(len(stream["lines"]) for stream in streams) == result["returned"] == 100
    assert result["truncated"] is True
    # Each stream's labels once; its lines newest first, the stream of the newest line first.
    assert [stream["labels"]["level"] for stream in streams] == ["error", "info"]
    for stream in streams:
        times = [line["time"] for line in stream["lines"]]
        assert times == sorted(times, reverse=True)
        assert set(stream["lines"][0]) == {"time", "line"}
    newest = max(e.timestamp_ns for s in dataset.streams if s.labels["service"] == "checkout" for e in s.entries)
    seconds, nanoseconds = divmod(newest, 10**9)
    assert (
        streams[0]["lines"][0]["time"] == f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{nanoseconds:09d}Z"
    )
    # What Loki attached to every line of a stream is said once, on the stream.
    assert streams[0]["structured_metadata"] == {"detected_level": "error"}


async def test_query_logs_text_says_the_labels_every_line_shares_once(tmp_path: Path, dataset: LogDataset) -> None:
    async with loki_session(tmp_path, dataset.streams) as client:
        raw = await client.call_tool("loki_query_logs", {"query": CHECKOUT, "limit": 20, **dataset.window()})
    header, *rest = "".join(getattr(block, "text", "") for block in raw.content).splitlines()
    lines, footer = rest[:-1], rest[-1]
    assert header.endswith(', all {namespace="prod", service="checkout", service_name="checkout"}:')
    assert len(lines) == 20
    assert footer.startswith("Showing 20")
    # A line names only what sets it apart: its level.
    assert all(('{level="error"}' in line) != ('{level="info"}' in line) for line in lines)
    assert not [line for line in lines if 'service="checkout"' in line]


async def test_query_logs_filters_lines_and_parses_json(tmp_path: Path, dataset: LogDataset) -> None:
    async with loki_session(tmp_path, dataset.streams) as client:
        refused = await call(
            client, "loki_query_logs", query=f'{CHECKOUT} |= "connection refused"', limit=1000, **dataset.window()
        )
        parsed = await call(
            client, "loki_query_logs", query=f"{CHECKOUT} | json | status >= 504", limit=1000, **dataset.window()
        )
    expected_refused = sum("connection refused" in e.line for s in dataset.streams for e in s.entries)
    assert refused["returned"] == expected_refused
    assert refused["truncated"] is False
    assert all("connection refused" in line["line"] for stream in refused["streams"] for line in stream["lines"])
    assert {line["line"] for stream in parsed["streams"] for line in stream["lines"]} == {
        '{"level": "error", "msg": "payment gateway timeout after 3000ms", "status": 504}'
    }
    assert parsed["returned"] == 12


async def test_query_logs_clamps_the_limit_and_says_so(tmp_path: Path, dataset: LogDataset) -> None:
    async with loki_session(tmp_path, dataset.streams, LOKI_MCP_MAX_LIMIT="300") as client:
        raw = await client.call_tool("loki_query_logs", {"query": CHECKOUT, "limit": 5000, **dataset.window()})
    result = raw.structured_content or {}
    assert result["limits_applied"] == ["limit lowered from 5000 to the maximum of 300 lines"]
    assert (result["returned"], result["truncated"]) == (300, True)
    text = "".join(getattr(block, "text", "") for block in raw.content)
    assert "Limit: limit lowered from 5000 to the maximum of 300 lines" in text


async def test_a_window_longer_than_the_cap_keeps_its_end_and_says_so_in_limits_applied(
    tmp_path: Path, dataset: LogDataset
) -> None:
    async with loki_session(tmp_path, dataset.streams, LOKI_MCP_MAX_RANGE_SECONDS="3600") as client:
        clamped = await call(client, "loki_query_logs", query=CHECKOUT, **dataset.window())
        within = await call(client, "loki_query_logs", query=CHECKOUT, **dataset.window(last_seconds=3600))
    (note,) = clamped["limits_applied"]
    assert "longer than the 1h allowed; it now starts at" in note
    assert clamped["end"] == within["end"]
    assert clamped["start"] == within["start"]
    assert clamped["streams"] == within["streams"]


async def test_a_thirty_day_window_is_clamped_for_every_tool_that_reads_a_window(
    tmp_path: Path, dataset: LogDataset
) -> None:
    window = {"start": "now-30d", "end": "now"}
    async with loki_session(tmp_path, dataset.streams) as client:
        results = {
            "loki_query_logs": await call(client, "loki_query_logs", query=CHECKOUT, **window),
            "loki_query_metrics": await call(
                client, "loki_query_metrics", query=f"count_over_time({CHECKOUT}[5m])", **window
            ),
            "loki_list_labels": await call(client, "loki_list_labels", **window),
            "loki_find_streams": await call(client, "loki_find_streams", query=CHECKOUT, **window),
            "loki_log_patterns": await call(client, "loki_log_patterns", query=CHECKOUT, **window),
        }
    unclamped = {
        tool: result["limits_applied"]
        for tool, result in results.items()
        if not any("the window was 30d, longer than the 1d allowed" in note for note in result["limits_applied"])
    }
    assert unclamped == {}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('{service=~".*"}', "would read every stream"),
        ('{service=~".+"}', "would read every stream"),
        ('{service!="checkout"}', "would read every stream"),
        ('|= "error"', "has no stream selector"),
        ("{service=checkout}", "is not a list of label matchers"),
    ],
)
async def test_unselective_or_malformed_selectors_are_refused_before_any_backend_call(
    tmp_path: Path, query: str, expected: str
) -> None:
    async with loki_session(tmp_path) as client:
        message = await call_error(client, "loki_query_logs", query=query)
    assert expected in message
    assert "loki_list_labels" in message or "not closed" in message or "matchers" in message


async def test_the_cost_pre_check_refuses_a_query_that_would_read_too_much(tmp_path: Path, dataset: LogDataset) -> None:
    async with loki_session(tmp_path, dataset.streams, LOKI_MCP_MAX_BYTES_SCANNED="10000") as client:
        message = await call_error(client, "loki_query_logs", query='{namespace="prod"}', **dataset.window())
        narrow = await call(client, "loki_query_logs", query='{service="payments", level="error"}', **dataset.window())
    assert "more than the 10 KiB allowed (LOKI_MCP_MAX_BYTES_SCANNED)" in message
    assert narrow["returned"] == 2


async def test_secrets_in_log_lines_are_redacted_everywhere_they_appear(tmp_path: Path, dataset: LogDataset) -> None:
    selector = '{service="payments", level="error"}'
    async with loki_session(tmp_path, dataset.streams) as client:
        logs = await client.call_tool("loki_query_logs", {"query": selector, **dataset.window()})
        patterns = await client.call_tool("loki_log_patterns", {"query": selector, **dataset.window()})
        errors = await client.call_tool("loki_error_patterns", {"query": selector, **dataset.window(last_seconds=1800)})
    for result in (logs, patterns, errors):
        everything = json.dumps(result.structured_content) + "".join(getattr(b, "text", "") for b in result.content)
        assert SECRET_PASSWORD not in everything
        assert SECRET_TOKEN not in everything
    lines = [line["line"] for stream in (logs.structured_content or {})["streams"] for line in stream["lines"]]
    assert any("password=[REDACTED]" in line for line in lines)
    assert any("Bearer [REDACTED]" in line for line in lines)


async def test_query_metrics_counts_lines_per_label_set(tmp_path: Path, dataset: LogDataset) -> None:
    query = 'sum by (level) (count_over_time({service="checkout"}[10m]))'
    async with loki_session(tmp_path, dataset.streams) as client:
        result = await call(client, "loki_query_metrics", query=query, step="10m", **dataset.window())
    by_level = {s["labels"]["level"]: s for s in result["series"]}
    assert set(by_level) == {"info", "error"}
    # One info line every 10 s: 60 per 10-minute window once the window is full.
    assert by_level["info"]["summary"]["max"] == 60
    # Errors: one timeout per 10 min, plus a refused connection every 5 s during the incident.
    assert by_level["error"]["summary"]["max"] >= 120
    assert by_level["error"]["summary"]["first"] == 1
    assert result["step_seconds"] == 600


async def test_list_labels_and_values_and_find_streams(tmp_path: Path, dataset: LogDataset) -> None:
    async with loki_session(tmp_path, dataset.streams) as client:
        names = await call(client, "loki_list_labels", **dataset.window())
        services = await call(client, "loki_list_labels", label="service", **dataset.window())
        levels = await call(client, "loki_list_labels", label="level", query='{service="payments"}', **dataset.window())
        streams = await call(client, "loki_find_streams", query='{namespace="prod"}', limit=3, **dataset.window())
    # Like Loki 3, the store names each pushed stream's service (service_name, from `service` here).
    assert names["values"] == ["level", "namespace", "service", "service_name"]
    assert services["values"] == ["checkout", "payments"]
    assert levels["values"] == ["error", "info"]
    assert (streams["returned"], streams["total"], streams["truncated"]) == (3, 4, True)
    assert streams["next_cursor"]


async def test_log_patterns_group_lines_into_templates_with_exact_counts(tmp_path: Path, dataset: LogDataset) -> None:
    async with loki_session(tmp_path, dataset.streams) as client:
        result = await call(client, "loki_log_patterns", query='{service="payments", level="info"}', **dataset.window())
    total = dataset.count(service="payments", level="info")
    assert result["lines_read"] == total
    assert result["lines_in_window"] == total
    assert [(p["count"], p["share"]) for p in result["patterns"]] == [(total, 1.0)]
    # A logfmt line's template is that of its message (msg), as for JSON lines.
    assert result["patterns"][0]["template"] == "charge ok"
    assert result["patterns"][0]["examples"][0].startswith('level=info msg="charge ok" amount=')


async def test_error_patterns_rank_the_new_error_first_and_ignore_steady_ones(
    tmp_path: Path, dataset: LogDataset
) -> None:
    async with loki_session(tmp_path, dataset.streams) as client:
        result = await call(client, "loki_error_patterns", query=CHECKOUT, **dataset.window(last_seconds=1800))
    assert result["patterns"], result
    top = result["patterns"][0]
    assert "connection refused" in top["template"]
    assert top["new"] is True
    assert top["baseline_count"] == 0
    assert top["current_count"] == sum("connection refused" in e.line for s in dataset.streams for e in s.entries)
    assert top["examples"]
    assert "connection refused to db:5432" in top["examples"][0]
    assert all("payment gateway timeout" not in p["template"] for p in result["patterns"])
    assert all("GET /api/cart" not in p["template"] for p in result["patterns"])
    assert result["baseline_lines_read"] > 0


async def test_analyze_logs_finds_templates_error_clusters_and_the_burst(tmp_path: Path, dataset: LogDataset) -> None:
    lines = sorted(
        (e.timestamp_ns, e.line) for s in dataset.streams if s.labels["service"] == "checkout" for e in s.entries
    )
    log = tmp_path / "logs" / "checkout.jsonl"
    log.parent.mkdir()
    log.write_text("".join(f"{line}\n" for _, line in lines))
    async with loki_session(tmp_path, roots=(log.parent,)) as client:
        result = await call(client, "loki_analyze_logs", path=str(log))
        outside = await call_error(client, "loki_analyze_logs", path="/etc/passwd")
        both = await call_error(client, "loki_analyze_logs", path=str(log), text="x")
    assert result["format"] == "jsonl"
    assert result["lines"] == len(lines)
    assert result["lines_with_timestamp"] == 0  # the JSON lines carry no time field
    assert any("connection refused" in p["template"] for p in result["error_clusters"])
    assert all("GET /api/cart" not in p["template"] for p in result["error_clusters"])
    assert "outside the directories this server may read" in outside
    assert "exactly one of" in both


async def test_analyze_logs_reports_the_window_where_volume_jumped(tmp_path: Path) -> None:
    steady = [f"2026-11-20T10:{m:02d}:{s:02d}Z INFO request served in 12ms" for m in range(60) for s in (0, 30)]
    burst = [f"2026-11-20T10:42:{s:02d}Z ERROR connection refused to 10.0.0.{s % 9}:5432" for s in range(60)]
    text = "\n".join(sorted(steady + burst))
    async with loki_session(tmp_path) as client:
        result = await call(client, "loki_analyze_logs", text=text)
    assert result["format"] == "plain"
    assert result["lines_with_timestamp"] == len(steady) + len(burst)
    assert result["window_seconds"] == 30
    windows = result["anomalous_windows"]
    assert windows
    assert all(w["start"].startswith("2026-11-20T10:42:") for w in windows)
    assert "connection refused" in windows[0]["top_templates"][0]
    assert [c["count"] for c in result["error_clusters"]] == [60]


async def test_an_unsupported_logql_construct_is_named(tmp_path: Path, dataset: LogDataset) -> None:
    async with loki_session(tmp_path, dataset.streams) as client:
        message = await call_error(
            client, "loki_query_logs", query=f'{CHECKOUT} | line_format "{{{{.msg}}}}"', **dataset.window()
        )
    assert "line_format" in message
    assert "LOKI_URL" in message


async def test_analyze_logs_refuses_a_named_pipe_in_an_allowed_directory(tmp_path: Path) -> None:
    roots = tmp_path / "logs"
    roots.mkdir()
    pipe = roots / "pipe.log"
    os.mkfifo(pipe)

    def unblock_after_a_while() -> None:
        # Were the pipe opened, this writer lets the open return (a test failure, not a hang).
        time.sleep(2)
        with pipe.open("w") as writer:
            writer.write("2026-11-20T10:00:00Z INFO from the pipe\n")

    writer = threading.Thread(target=unblock_after_a_while, daemon=True)
    writer.start()
    async with loki_session(tmp_path, roots=(roots,)) as client:
        message = await call_error(client, "loki_analyze_logs", path=str(pipe))
    # Release the writer, whose open waits for a reader now that the server opened none.
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    writer.join(timeout=10)
    os.close(reader)
    assert "not a regular file" in message
