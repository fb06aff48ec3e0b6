"""The one limit clamp, window policy and bounded-result fields every MCP server uses."""

from __future__ import annotations

from common.mcp.bounds import bounds, choose_step, clamp_limit, clamp_window, page_bounds
from common.pagination import paginate
from common.timerange import TimeRange


def test_a_limit_above_the_maximum_is_lowered_and_says_so() -> None:
    notes: list[str] = []
    assert clamp_limit(5000, 1000, "lines", notes, default=100) == 1000
    assert notes == ["limit lowered from 5000 to the maximum of 1000 lines"]


def test_no_limit_means_the_default_or_else_the_maximum_and_nothing_is_noted() -> None:
    notes: list[str] = []
    assert clamp_limit(None, 1000, "lines", notes, default=100) == 100
    assert clamp_limit(None, 1000, "series", notes) == 1000
    assert clamp_limit(7, 1000, "series", notes) == 7
    assert notes == []


def test_a_window_too_long_keeps_its_end_and_says_where_it_now_starts() -> None:
    notes: list[str] = []
    window = clamp_window(TimeRange(0.0, 30 * 86400.0), 86400.0, notes)
    assert window == TimeRange(29 * 86400.0, 30 * 86400.0)
    assert notes == ["the window was 30d, longer than the 1d allowed; it now starts at 1970-01-30T00:00:00Z"]


def test_a_window_within_the_limit_is_unchanged() -> None:
    notes: list[str] = []
    assert clamp_window(TimeRange(0.0, 3600.0), 3600.0, notes, what="baseline window") == TimeRange(0.0, 3600.0)
    assert notes == []


def test_bounds_say_a_result_is_truncated_when_fewer_are_shown_than_matched() -> None:
    assert bounds([1, 2], 5, ["note"], warnings=("w",)) == {
        "returned": 2,
        "total": 5,
        "truncated": True,
        "next_cursor": None,
        "limits_applied": ["note"],
        "warnings": ["w"],
    }
    assert bounds([1, 2], 2, [])["truncated"] is False
    # A backend that cut its answer says so even when it cannot say how much matched.
    assert bounds([1, 2], 2, [], truncated=True)["truncated"] is True


def test_page_bounds_carry_the_cursor_of_the_next_page() -> None:
    page = paginate(list(range(10)), limit=4, cursor=None)
    fields = page_bounds(page, [])
    assert (fields["returned"], fields["total"], fields["truncated"]) == (4, 10, True)
    rest = paginate(list(range(10)), limit=10, cursor=fields["next_cursor"])
    assert rest.items == list(range(4, 10))


def test_no_step_asked_is_the_first_round_step_giving_at_most_the_default_points() -> None:
    notes: list[str] = []
    assert choose_step(TimeRange(0.0, 3600.0), None, notes, default_points=240, max_points=11000) == 15.0
    assert choose_step(TimeRange(0.0, 86400.0), None, notes, default_points=240, max_points=11000) == 600.0
    assert notes == []


def test_a_step_too_fine_for_the_window_is_raised_and_says_so() -> None:
    notes: list[str] = []
    step = choose_step(TimeRange(0.0, 30 * 86400.0), 1.0, notes, default_points=240, max_points=11000)
    assert 30 * 86400 / step + 1 <= 11000
    assert notes[0].startswith("step raised from 1s to")
    assert notes[0].endswith("so that each series has at most 11000 points")
