"""A LogQL pipeline run over one entry: line filters, `| json` / `| logfmt`, label filters.

The subset never rewrites a line, so every `|=` of a pipeline is a substring the line must hold
wherever it stands; `contains` hands those to the store to filter early.

Parsed labels follow Loki: JSON objects are flattened with `_`, keys become label names (any
character outside `[a-zA-Z0-9_]` turns into `_`, a leading digit gets a `_` prefix), and a name
the entry already has (stream label or structured metadata) is suffixed `_extracted`. A line a
parser cannot read keeps flowing with `__error__` (`JSONParserErr`, `LogfmtParserErr`) and
`__error_details__`, so `| __error__=""` drops it; a numeric label filter on a value that is not
a number sets `__error__="LabelFilterErr"` and keeps the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from analysis.logfmt import parse_logfmt
from common.regex import UserPattern, compile_user_regex
from servers.loki_mcp.logql import (
    LabelAnd,
    LabelCompare,
    LabelFilter,
    LabelOr,
    LineFilter,
    NumericCompare,
    Parser,
    Stage,
    parse_bytes,
    parse_duration_ns,
)

__all__ = ["ERROR_DETAILS_LABEL", "ERROR_LABEL", "Pipeline"]

ERROR_LABEL = "__error__"
ERROR_DETAILS_LABEL = "__error_details__"
_NOT_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_UNTERMINATED_QUOTE = re.compile(r'(?:^|\s)[^\s=]*="(?:[^"\\]|\\.)*$')
_GO_DURATION = re.compile(
    r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h)(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))*"
)


class Pipeline:
    """The stages of one log query, compiled once and run per entry."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)

    @cached_property
    def contains(self) -> tuple[str, ...]:
        return tuple(s.value for s in self.stages if isinstance(s, LineFilter) and s.op == "|=" and s.value)

    @cached_property
    def _regexes(self) -> dict[str, UserPattern]:
        return {
            s.value: compile_user_regex(s.value, what=f"the line filter {s.op}")
            for s in self.stages
            if isinstance(s, LineFilter) and s.op in ("|~", "!~")
        }

    def run(self, line: str, base: Mapping[str, str]) -> dict[str, str] | None:
        """The labels the pipeline adds to an entry whose labels are `base`, or None if it drops the entry."""
        parsed: dict[str, str] = {}
        for stage in self.stages:
            if isinstance(stage, LineFilter):
                if not self._keeps(stage, line):
                    return None
            elif isinstance(stage, Parser):
                _parse(stage.kind, line, base, parsed)
            elif not _filter(stage, base, parsed):
                return None
        return parsed

    def _keeps(self, stage: LineFilter, line: str) -> bool:
        if stage.op == "|=":
            return stage.value in line
        if stage.op == "!=":
            return stage.value not in line
        found = self._regexes[stage.value].search(line) is not None
        return found if stage.op == "|~" else not found


def _parse(kind: str, line: str, base: Mapping[str, str], parsed: dict[str, str]) -> None:
    if ERROR_LABEL in parsed:
        return
    pairs: dict[str, str] = {}
    if kind == "json":
        try:
            document = json.loads(line, parse_float=str, parse_int=str, parse_constant=str)
        except ValueError as exc:
            _error(parsed, "JSONParserErr", str(exc))
            return
        if not isinstance(document, dict):
            _error(parsed, "JSONParserErr", "Value looks like object, but can't find closing '}' symbol")
            return
        _flatten(document, "", pairs)
    else:
        if _UNTERMINATED_QUOTE.search(line):
            _error(parsed, "LogfmtParserErr", "logfmt syntax error: unterminated quoted value")
            return
        pairs = {name: value for key, value in parse_logfmt(line).items() if (name := _sanitize(key, True))}
    for name, value in pairs.items():
        if value:
            parsed[f"{name}_extracted" if name in base else name] = value


def _flatten(document: Mapping[str, Any], prefix: str, out: dict[str, str]) -> None:
    for key, value in document.items():
        part = _sanitize(key, not prefix)
        if not part:
            continue
        name = f"{prefix}_{part}" if prefix else part
        if isinstance(value, dict):
            _flatten(value, name, out)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, str):
            out[name] = value
        # Arrays and nulls are not extracted, as in Loki.


def _sanitize(key: str, first: bool) -> str:
    key = key.strip()
    if first and key[:1].isdigit():
        key = "_" + key
    return _NOT_NAME_CHAR.sub("_", key)


def _error(parsed: dict[str, str], error: str, details: str) -> None:
    parsed[ERROR_LABEL] = error
    parsed[ERROR_DETAILS_LABEL] = details


def _filter(stage: LabelFilter, base: Mapping[str, str], parsed: dict[str, str]) -> bool:
    if isinstance(stage, LabelAnd):
        return _filter(stage.left, base, parsed) and _filter(stage.right, base, parsed)
    if isinstance(stage, LabelOr):
        return _filter(stage.left, base, parsed) or _filter(stage.right, base, parsed)
    if isinstance(stage, LabelCompare):
        name = stage.matcher.name
        value = parsed.get(name, base.get(name, ""))
        return stage.matcher.matches({name: value})
    return _numeric(stage, base, parsed)


def _numeric(stage: NumericCompare, base: Mapping[str, str], parsed: dict[str, str]) -> bool:
    if ERROR_LABEL in parsed:
        # Only a string filter (on __error__) may drop a line that already failed, as in Loki.
        return True
    text = parsed.get(stage.name, base.get(stage.name))
    if text is None:
        return False
    try:
        value = _number(text, stage.unit)
    except ValueError as exc:
        _error(parsed, "LabelFilterErr", str(exc))
        return True
    target = stage.value
    match stage.op:
        case "==":
            return value == target
        case "!=":
            return value != target
        case ">":
            return value > target
        case ">=":
            return value >= target
        case "<":
            return value < target
        case _:
            return value <= target


def _number(text: str, unit: str) -> float:
    if unit == "duration":
        if not _GO_DURATION.fullmatch(text):
            raise ValueError(f'time: invalid duration "{text}"')
        sign = -1 if text.startswith("-") else 1
        return sign * parse_duration_ns(text.lstrip("+-")) / 1e9
    if unit == "bytes":
        return parse_bytes(text)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None
