"""Lines read from a file or pipe in bounded memory, however long they are.

Iterating a text stream reads a whole line before yielding it, so input that never breaks a
line (`/dev/zero`, a 50 MB JSON dump on one line) is read into memory whole. `bounded_lines`
reads at most `max_chars` of each line; the rest of a longer one is read in pieces and dropped
(up to its line break, or a NUL: binary input is cut short for its reader to refuse).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

__all__ = ["MAX_LINE_CHARS", "bounded_lines"]

MAX_LINE_CHARS = 256 * 1024
"""The default cap: Loki's default largest line (max_line_size, 256 KB)."""
_SKIP_CHARS = 1 << 20
_LINE_BREAKS = ("\n", "\r")


def bounded_lines(stream: TextIO, max_chars: int = MAX_LINE_CHARS, cuts: dict[int, int] | None = None) -> Iterator[str]:
    """The lines of `stream`, each cut to its first `max_chars` characters (its line break kept).

    For each line cut, `cuts` (when given) gets its number (from 1) -> its length before the cut.
    """
    number = 0
    while line := stream.readline(max_chars + 1):
        number += 1
        if len(line) > max_chars and not line.endswith(_LINE_BREAKS):
            length, rest = len(line), ""
            while piece := stream.readline(_SKIP_CHARS):
                rest = piece
                length += len(piece)
                # A NUL is binary data, which every reader of these lines refuses: stop here so
                # the refusal comes at once rather than after skipping an endless /dev/zero.
                if piece.endswith(_LINE_BREAKS) or "\x00" in piece:
                    break
            ending = rest[len(rest.rstrip("\r\n")) :]
            if cuts is not None:
                cuts[number] = length - len(ending)
            line = line[:max_chars] + ending
        yield line
