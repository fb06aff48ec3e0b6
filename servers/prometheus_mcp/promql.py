"""Building PromQL safely from tool parameters.

Label values and metric names given as parameters never reach PromQL as raw text: names are
checked against the Prometheus grammar and values are quoted, so `a"}or vector(1)` stays a
value. A matcher value written `=~<regex>` is a regex matcher (`label=~"<regex>"`, anchored as
Prometheus anchors it): checked as RE2, the syntax Prometheus uses, and at most MAX_REGEX_LENGTH
long, so a caller selects a workload's pods (`{"pod": "=~checkout-.+"}`) where equality cannot.
Free-form expressions are only length-checked; Prometheus parses them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from common.errors import InputError, LimitExceeded
from common.regex import UserPattern, compile_user_regex

__all__ = [
    "MAX_REGEX_LENGTH",
    "REGEX",
    "check_label_name",
    "check_metric_name",
    "check_query",
    "matches",
    "quote",
    "selector",
]

#: How a matcher value says it is a regex.
REGEX = "=~"
#: Longest regex matcher accepted (a workload's pod pattern is under 100 characters).
MAX_REGEX_LENGTH = 512

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# A selector with no metric name whose only matcher is a match-anything regex on the name
# (`{__name__=~".+"}`) selects every series of the backend: refused before it reaches it.
_EVERYTHING = re.compile(r"""(?<![\w:])\{\s*__name__\s*=~\s*(["'`])\.[*+]\1\s*,?\s*\}""")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def quote(value: str) -> str:
    """A PromQL double-quoted string literal holding exactly `value`."""
    # PromQL strings use Go's escapes, of which JSON's are a subset.
    return json.dumps(value, ensure_ascii=False)


def check_label_name(name: str) -> str:
    if not _LABEL_NAME.fullmatch(name):
        raise InputError(
            f"Invalid label name {name!r}: use letters, digits and underscores, not starting with a digit."
        )
    return name


def check_metric_name(name: str) -> str:
    if not _METRIC_NAME.fullmatch(name):
        raise InputError(
            f"Invalid metric name {name!r}: use letters, digits, underscores and colons, not starting with a digit. "
            "For an expression, use prometheus_query instead."
        )
    return name


def selector(metric: str | None, matchers: Mapping[str, str]) -> str:
    """`metric{label="value",label=~"regex",...}` with every value quoted; without a metric, at least one
    matcher that does not match the empty value is required (Prometheus' own rule)."""
    parts = []
    selective = False
    for label, value in sorted(matchers.items()):
        check_label_name(label)
        if value.startswith(REGEX):
            pattern = value.removeprefix(REGEX)
            selective = selective or not _regex(label, pattern).fullmatch("")
            parts.append(f"{label}=~{quote(pattern)}")
        else:
            selective = selective or bool(value)
            parts.append(f"{label}={quote(value)}")
    if metric:
        check_metric_name(metric)
    if not metric and not selective:
        raise InputError(
            "Give a metric name or at least one label matcher with a non-empty value; "
            "a selector matching every series is refused."
        )
    return f"{metric or ''}{{{','.join(parts)}}}"


def matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a label set satisfies `matchers` as `selector` writes them (a missing label is empty)."""
    for label, value in matchers.items():
        actual = labels.get(label, "")
        if value.startswith(REGEX):
            if _regex(label, value.removeprefix(REGEX)).fullmatch(actual) is None:
                return False
        elif actual != value:
            return False
    return True


def _regex(label: str, pattern: str) -> UserPattern:
    if len(pattern) > MAX_REGEX_LENGTH:
        raise LimitExceeded(
            f"The regex matcher of {label} is {len(pattern)} characters long; the limit is {MAX_REGEX_LENGTH}."
        )
    # Prometheus compiles label matchers with (?s) and anchors them at both ends.
    return compile_user_regex(pattern, what=f"the regex matcher of {label}", dot_matches_newline=True)


def check_query(query: str, max_length: int) -> str:
    query = query.strip()
    if not query:
        raise InputError(
            "The query is empty; give a PromQL expression such as 'up' or 'rate(http_requests_total[5m])'."
        )
    if len(query) > max_length:
        raise LimitExceeded(
            f"The query is {len(query)} characters long; the limit is {max_length}. "
            "Simplify it or split it into several queries."
        )
    if _EVERYTHING.search(query):
        raise InputError(
            'The query selects every series ({__name__=~".+"}); name a metric or add a label matcher, '
            "or use prometheus_list_labels to discover metric names."
        )
    return query
