"""What a LogQL query must be before loki-mcp sends it anywhere.

A log backend reads every chunk of every stream a selector picks, so the one rule that matters is
that each stream selector picks *some* streams, not all: at least one matcher must be an equality
on a non-empty value or a regular expression that does not match everything. This is checked by
scanning the query for its selectors (skipping string literals), which works for all of LogQL, not
only the subset the embedded store evaluates. Windows longer than the cap are refused; limits are
clamped, and each clamp is written to `notes` so the caller can report it.
"""

from __future__ import annotations

import re

from common.errors import InputError, LimitExceeded
from common.timerange import TimeRange, format_duration
from servers.loki_mcp.local.records import Matcher, MatchOp
from servers.loki_mcp.settings import Limits

__all__ = ["check_query", "check_window", "clamp_limit", "selector_text", "stream_selectors"]

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


def check_window(window: TimeRange, limits: Limits) -> TimeRange:
    """`window`, or InputError when it is longer than one query may read.

    Refused rather than shortened: a log query over part of the asked window would answer a
    different question (the errors of the last day are not those of the last month).
    """
    if window.seconds <= limits.max_range_seconds:
        return window
    longest = format_duration(limits.max_range_seconds)
    raise LimitExceeded(
        f"The window is {format_duration(window.seconds)} long; one query may cover at most {longest} "
        f"(LOKI_MCP_MAX_RANGE_SECONDS). Shorten it, e.g. start='now-{longest}', or query it in parts."
    )


def clamp_limit(requested: int | None, default: int, maximum: int, what: str, notes: list[str]) -> int:
    if requested is None:
        return default
    if requested > maximum:
        notes.append(f"limit lowered from {requested} to the maximum of {maximum} {what}")
        return maximum
    return requested


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
