"""What the local log store keeps and how the query engine reads it.

The store (`store.py`, SQLite) and the LogQL engine (`engine.py`) meet here: the engine asks the
store for the streams a selector's matchers pick and then reads their entries in time order; it
never sees SQL. Label matching follows Loki: a missing label reads as "", regular expressions are
anchored at both ends, `.` matches a newline, and they run in RE2 (linear time, `common.regex`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Protocol

from common.regex import UserPattern, compile_user_regex
from servers.loki_mcp.models import Direction, PushStream

__all__ = ["LogStore", "MatchOp", "Matcher", "StoredEntry", "StreamInfo"]

MatchOp = Literal["=", "!=", "=~", "!~"]


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str

    @cached_property
    def _pattern(self) -> UserPattern:
        return compile_user_regex(self.value, what=f"the label matcher {self.name}{self.op}", dot_matches_newline=True)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = self._pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    @property
    def matches_empty(self) -> bool:
        """True when the matcher also selects streams without the label (Loki needs one that does not)."""
        return self.matches({})


@dataclass(frozen=True)
class StreamInfo:
    id: int
    labels: Mapping[str, str]


@dataclass(frozen=True)
class StoredEntry:
    timestamp_ns: int
    line: str
    structured_metadata: Mapping[str, str] = field(default_factory=dict)


class LogStore(Protocol):
    async def append(self, streams: Sequence[PushStream]) -> int:
        """Store the entries of `streams`; returns how many were written."""
        ...

    async def select_streams(self, matchers: Sequence[Matcher], start_ns: int, end_ns: int) -> list[StreamInfo]:
        """The streams every matcher selects that have at least one entry in [start_ns, end_ns)."""
        ...

    def entries(
        self,
        stream_ids: Sequence[int],
        start_ns: int,
        end_ns: int,
        *,
        direction: Direction,
        contains: Sequence[str] = (),
    ) -> AsyncIterator[tuple[int, StoredEntry]]:
        """(stream id, entry) in [start_ns, end_ns), oldest first for "forward", newest first for "backward".

        `contains` are substrings every returned line has (a `|=` filter pushed down); the engine
        still applies its own filters, so a store may ignore them.
        """
        ...

    async def stats(self, stream_ids: Sequence[int], start_ns: int, end_ns: int) -> tuple[int, int]:
        """(entries, bytes of line text) of those streams in [start_ns, end_ns)."""
        ...

    async def aclose(self) -> None: ...
