"""loki_query_logs' result as agents read it: lines grouped by stream, read back in the query's order."""

from __future__ import annotations

from common.contracts.loki import LogLine, LogQueryResult, LogStream


def result(direction: str = "backward") -> LogQueryResult:
    error = LogStream(
        labels={"service": "checkout", "level": "error"},
        structured_metadata={"detected_level": "error"},
        lines=[LogLine(time="2026-12-05T10:00:03.000000000Z", line="refused", line_cut=True)],
    )
    info = LogStream(
        labels={"service": "checkout", "level": "info"},
        lines=[
            LogLine(time="2026-12-05T10:00:02.500000000Z", line="ok", parsed={"status": "200"}),
            LogLine(time="2026-12-05T10:00:01.000000000Z", line="started"),
        ],
    )
    return LogQueryResult(
        backend="local",
        query='{service="checkout"}',
        start="2026-12-05T09:00:00Z",
        end="2026-12-05T10:00:05Z",
        direction=direction,
        streams=[error, info],
        returned=3,
        total=3,
        truncated=False,
    )


def test_a_line_sends_only_what_it_has_beyond_its_time_and_text() -> None:
    sent = result().model_dump(mode="json")["streams"]
    assert sent[0] == {
        "labels": {"service": "checkout", "level": "error"},
        "structured_metadata": {"detected_level": "error"},
        "lines": [{"time": "2026-12-05T10:00:03.000000000Z", "line": "refused", "line_cut": True}],
    }
    assert sent[1]["lines"] == [
        {"time": "2026-12-05T10:00:02.500000000Z", "line": "ok", "parsed": {"status": "200"}},
        {"time": "2026-12-05T10:00:01.000000000Z", "line": "started"},
    ]
    assert LogQueryResult.model_validate(result().model_dump(mode="json")) == result()


def test_lines_read_back_in_the_querys_direction_across_streams() -> None:
    assert [line.line for _, line in result().in_order()] == ["refused", "ok", "started"]
    forward = result("forward")
    forward.streams[1].lines.reverse()
    assert [(labels["level"], line.line) for labels, line in forward.in_order()] == [
        ("info", "started"),
        ("info", "ok"),
        ("error", "refused"),
    ]


def test_the_text_says_the_shared_labels_once_and_each_line_its_own() -> None:
    header, *lines = result().render_text().splitlines()
    assert header.endswith(', all {service="checkout"}:')
    assert lines == [
        '2026-12-05T10:00:03.000000000Z {level="error"} refused',
        '2026-12-05T10:00:02.500000000Z {level="info"} ok',
        '2026-12-05T10:00:01.000000000Z {level="info"} started',
    ]
