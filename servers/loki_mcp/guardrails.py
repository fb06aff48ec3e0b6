"""What a LogQL query must be before loki-mcp sends it anywhere.

A log backend reads every chunk of every stream a selector picks, so the one rule that matters is
that each stream selector picks *some* streams, not all: at least one matcher must be an equality
on a non-empty value or a regular expression that does not match everything. This is checked by
scanning the query for its selectors (skipping string literals), which works for all of LogQL, not
only the subset the embedded store evaluates. A query whose selectors would read more than
`max_bytes_scanned` (per the backend's /index/stats) is refused before it runs. Windows and limits
are clamped the way every server clamps them (`common.mcp.bounds`).
"""

from __future__ import annotations

import re

from common.errors import BackendRejected, InputError, LimitExceeded
from common.timerange import TimeRange, format_duration, unix_ns
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.local.records import Matcher, MatchOp
from servers.loki_mcp.settings import Limits

__all__ = ["check_cost", "check_query", "selector_text", "stream_selectors"]

_MATCHER = re.compile(
    r"""\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>"(?:[^"\\]|\\.)*"|`[^`]*`)\s*(?:,|(?=}))"""
)
# A regular expression matching all of these is taken to match every value a label can have.
_PROBES = ("a", "checkout", "zz-9_Q", "1", "with space", "π")
_HINT = (
    'Name the streams with at least one label matcher such as {service="checkout"} or '
    '{namespace=~"prod|staging"}; loki_list_labels shows the labels and their values.'
)


def stream_selectors(query: str) -> list[tuple[Matcher, ...]]:
    """The matchers of every `{...}` stream selector in `query`, in order.

    Raises InputError for a selector that is not a list of `name op "value"` matchers.
    """
    selectors: list[tuple[Matcher, ...]] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char in '"`':
            i = _after_string(query, i)
            continue
        if char == "{":
            matchers, i = _selector(query, i)
            selectors.append(matchers)
            continue
        i += 1
    return selectors


def check_query(query: str, limits: Limits) -> str:
    """`query` stripped, or InputError when it is too long or reads streams unselectively."""
    query = query.strip()
    if not query:
        raise InputError('The query is empty. Give a LogQL query such as {service="checkout"} |= "error".')
    if len(query) > limits.max_query_length:
        raise LimitExceeded(
            f"The query is {len(query)} characters long; the limit is {limits.max_query_length}. Shorten it."
        )
    selectors = stream_selectors(query)
    if not selectors:
        raise InputError(f"The query has no stream selector ({{...}}). {_HINT}")
    for matchers in selectors:
        if not any(_selective(matcher) for matcher in matchers):
            raise InputError(
                f"The stream selector {selector_text(matchers)} would read every stream: it needs a "
                f"selective matcher. {_HINT}"
            )
    return query


def selector_text(matchers: tuple[Matcher, ...]) -> str:
    inner = ", ".join(f'{m.name}{m.op}"{_escape(m.value)}"' for m in matchers)
    return "{" + inner + "}"


async def check_cost(client: LokiClient, query: str, window: TimeRange, limits: Limits, notes: list[str]) -> None:
    """Refuse a query whose selectors would read more than `max_bytes_scanned`, per /index/stats."""
    total = 0
    for matchers in stream_selectors(query):
        try:
            stats = await client.index_stats(
                selector_text(matchers), start_ns=unix_ns(window.start), end_ns=unix_ns(window.end)
            )
        except BackendRejected:
            notes.append("cost pre-check skipped: the backend has no /index/stats")
            return
        total += stats.bytes
    if total > limits.max_bytes_scanned:
        raise LimitExceeded(
            f"The query would read about {_size(total)} of logs in {format_duration(window.seconds)}, "
            f"more than the {_size(limits.max_bytes_scanned)} allowed (LOKI_MCP_MAX_BYTES_SCANNED). "
            "Use a more selective stream selector or a shorter window."
        )


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _selective(matcher: Matcher) -> bool:
    if matcher.op == "=":
        return matcher.value != ""
    if matcher.op == "=~":
        return not matcher.matches_empty and not all(matcher.matches({matcher.name: p}) for p in _PROBES)
    return False


def _selector(query: str, start: int) -> tuple[tuple[Matcher, ...], int]:
    i = start + 1
    matchers: list[Matcher] = []
    while True:
        closing = re.compile(r"\s*}").match(query, i)
        if closing:
            return tuple(matchers), closing.end()
        found = _MATCHER.match(query, i)
        if found is None:
            raise InputError(
                f"The stream selector at character {start + 1} is not a list of label matchers "
                f'(name="value", name!="value", name=~"regex", name!~"regex") closed by }}. {_HINT}'
            )
        op: MatchOp = found["op"]  # type: ignore[assignment]
        matchers.append(Matcher(found["name"], op, _unquote(found["value"])))
        i = found.end()
        if i > len(query):
            raise InputError(f"The stream selector at character {start + 1} is not closed by }}.")


def _after_string(query: str, start: int) -> int:
    quote = query[start]
    i = start + 1
    while i < len(query):
        if quote == '"' and query[i] == "\\":
            i += 2
            continue
        if query[i] == quote:
            return i + 1
        i += 1
    raise InputError(f"The string starting at character {start + 1} is not closed by {quote}.")


def _unquote(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    # Go string escapes; JSON's are the common subset LogQL selectors use.
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), literal[1:-1])


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
