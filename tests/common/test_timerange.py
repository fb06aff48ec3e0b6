from __future__ import annotations

import pytest

from common.errors import InputError
from common.timerange import LATEST_NS, TimeRange, check_unix_ns, format_duration, parse_duration, parse_time

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


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("now-1h", "9999999999", "end"),
        ("now-1h", 1e12, "end"),
        ("now-1h", "now+999999d", "end"),
        ("now-99999999d", "now", "start"),
        ("now-1y", "1e400", "end"),
        ("1969-12-31T23:59:59Z", "now", "start"),
        (-1, "now", "start"),
        ("now-1h", float("nan"), "end"),
    ],
)
def test_times_outside_1970_to_2262_are_refused_naming_the_argument_and_the_range(
    start: str | float, end: str | float, field: str
) -> None:
    with pytest.raises(InputError) as caught:
        TimeRange.parse(start, end, now=NOW)
    message = str(caught.value)
    assert message.startswith(f"Invalid {field} ")
    assert "from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16Z" in message


@pytest.mark.parametrize("value", ["1e400", "99999999999d", float("inf")])
def test_durations_past_any_supported_span_are_refused(value: str | float) -> None:
    with pytest.raises(InputError, match="longer than any span of supported times"):
        parse_duration(value)


def test_unix_seconds_as_numbers_are_times_and_booleans_are_not() -> None:
    assert TimeRange.parse(1_799_996_400, 1_800_000_000.5, now=NOW).seconds == 3600.5
    with pytest.raises(InputError, match="Invalid start True"):
        TimeRange.parse(True, "now", now=NOW)


def test_check_unix_ns_names_what_is_out_of_range() -> None:
    assert check_unix_ns(LATEST_NS, "x") == LATEST_NS
    with pytest.raises(InputError, match=r"streams\[0\]\.values\[1\] is -1 ns since 1970, outside"):
        check_unix_ns(-1, "streams[0].values[1]")
