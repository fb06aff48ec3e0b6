"""The window a request asks for: its own start and end, else the look-back up to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.investigation.window import Window

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_a_request_without_times_reads_the_look_back_up_to_now() -> None:
    window = Window.asked(None, None, lookback_seconds=3600.0, step_seconds=30.0, now=NOW)

    assert window == Window(start=NOW.timestamp() - 3600.0, end=NOW.timestamp(), step=30.0)


def test_a_request_naming_its_times_reads_exactly_them() -> None:
    start, end = NOW - timedelta(hours=2), NOW - timedelta(minutes=30)

    window = Window.asked(start, end, lookback_seconds=3600.0, step_seconds=60.0, now=NOW)

    assert (window.start, window.end) == (start.timestamp(), end.timestamp())


def test_a_request_naming_only_its_end_looks_back_from_it() -> None:
    end = NOW - timedelta(hours=1)

    window = Window.asked(None, end, lookback_seconds=600.0, step_seconds=60.0, now=NOW)

    assert (window.start, window.end) == (end.timestamp() - 600.0, end.timestamp())
