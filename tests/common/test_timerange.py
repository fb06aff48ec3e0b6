from __future__ import annotations

import pytest

from common.errors import InputError
from common.timerange import TimeRange, format_duration, parse_duration, parse_time

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-1h", NOW - 3600),
        ("now - 90m", NOW - 5400),
        ("now+5m", NOW + 300),
        ("2027-01-15T08:00:00Z", NOW),
        ("2027-01-15T09:30:00+01:00", NOW + 1800),
        ("1800000000", NOW),
        ("1800000000.5", NOW + 0.5),
    ],
)
def test_parse_time_accepts_relative_and_absolute_forms(text: str, expected: float) -> None:
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "Use 'now', 'now-1h'"),
        ("2027-01-15T08:00:00", "no time zone"),
        ("1800000000000", "unix times are seconds"),
        ("now-1x", "Invalid duration '1x'"),
    ],
)
def test_parse_time_rejects_with_a_message_saying_what_to_write(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_time(text, now=NOW)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("250ms", 0.25), ("90", 90)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "m5", "1h-5m", "-5m"])
def test_parse_duration_rejects_malformed_text(text: str) -> None:
    with pytest.raises(InputError):
        parse_duration(text)


def test_format_duration_is_the_compact_prometheus_form() -> None:
    assert [format_duration(s) for s in (0.25, 59, 90, 3600, 93784)] == ["250ms", "59s", "1m30s", "1h", "1d2h3m4s"]


def test_time_range_must_start_before_it_ends() -> None:
    assert TimeRange.parse("now-1h", "now", now=NOW).seconds == 3600
    with pytest.raises(InputError, match="must be before the end"):
        TimeRange.parse("now", "now-1h", now=NOW)
