from __future__ import annotations

import io

from analysis.line_limit import bounded_lines


def test_long_lines_keep_their_start_and_break_and_their_length_is_recorded() -> None:
    text = "short\n" + "x" * 50 + "\r\n" + "y" * 30 + "\nend"
    cuts: dict[int, int] = {}
    lines = list(bounded_lines(io.StringIO(text, newline=""), 10, cuts))
    assert lines == ["short\n", "x" * 10 + "\r\n", "y" * 10 + "\n", "end"]
    assert cuts == {2: 50, 3: 30}


def test_a_line_of_exactly_the_cap_is_not_cut() -> None:
    cuts: dict[int, int] = {}
    assert list(bounded_lines(io.StringIO("abc\nabcd"), 4, cuts)) == ["abc\n", "abcd"]
    assert cuts == {}


class Zeros(io.StringIO):
    """/dev/zero as text: NULs without end, never a line break."""

    def readline(self, size: int | None = -1, /) -> str:
        return "\x00" * (size if size and size > 0 else 4096)


def test_skipping_stops_at_binary_data_so_endless_zeros_do_not_hang() -> None:
    cuts: dict[int, int] = {}
    first = next(bounded_lines(Zeros(), 10, cuts))
    assert first == "\x00" * 10
    assert cuts[1] > 10
