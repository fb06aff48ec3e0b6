"""Log lines read as records: which format a log is in, and each line's time, level and message.

Shared by `sre logs` (which mines messages) and the embedded log store's file ingest (which
stores lines at their own time). Formats:
- `jsonl`: one JSON object per line; `logfmt`: `key=value` pairs; `plain`: anything else.
- `csv`: a header row of column names, then one record per row (a quoted field may span lines).
  The stored line of a row is the row as logfmt pairs (`ts=... level=error msg="..."`), every
  column kept: `| logfmt` then reads any column back in LogQL, a `msg` column included.

`sniff_format` decides from the first lines (`read_head`): all JSON objects means jsonl, all
key=value pairs logfmt, a header of column names and rows of as many fields csv, else plain.

Times: a field named `ts`, `time`, `timestamp`, `@timestamp` or `t` holding RFC 3339 (or
`YYYY-MM-DD HH:MM:SS[.fff]`; no zone means UTC) or Unix seconds, milliseconds, microseconds or
nanoseconds (told apart by magnitude). A plain line's time is a leading one of those, or
syslog's `Mon DD HH:MM:SS` (in the year given, since syslog writes none). Levels: a field named
`level`, `severity` or `lvl`, or in a plain line the first level word (ERROR, warn, ...),
normalised to Loki's names (trace, debug, info, warn, error, critical, fatal).
"""

from __future__ import annotations

import calendar
import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from analysis.logfmt import is_logfmt, logfmt_value, parse_logfmt
from common.errors import InputError

__all__ = [
    "JSON_MESSAGE_KEYS",
    "LEVELS",
    "LEVEL_KEYS",
    "SNIFF_LINES",
    "TIME_KEYS",
    "LogFormat",
    "LogRecord",
    "json_message",
    "json_object",
    "level_word",
    "logfmt_message",
    "looks_binary",
    "message_of",
    "normalize_level",
    "parse_records",
    "parse_time",
    "read_head",
    "sniff_format",
]

LogFormat = Literal["jsonl", "logfmt", "csv", "plain"]
JSON_MESSAGE_KEYS = ("msg", "message", "log", "line")
TIME_KEYS = ("ts", "time", "timestamp", "@timestamp", "t")
LEVEL_KEYS = ("level", "severity", "lvl")
SNIFF_LINES = 20
"""Non-blank lines `sniff_format` looks at before it decides."""

_JSON = json.JSONDecoder()
_NS = 1_000_000_000
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s?(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_MONTHS = {name: number for number, name in enumerate(calendar.month_abbr) if name}
_SYSLOG = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2})")
_LEVEL_WORD = re.compile(
    r"\b(trace|debug|info|notice|warn|warning|error|err|crit|critical|alert|emerg|fatal|panic)\b", re.IGNORECASE
)
_LEVELS = {
    "trace": "trace",
    "debug": "debug",
    "dbg": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
    "err": "error",
    "crit": "critical",
    "critical": "critical",
    "alert": "critical",
    "emerg": "critical",
    "fatal": "fatal",
    "panic": "fatal",
}
LEVELS = frozenset(_LEVELS.values())
"""Loki's level names, which every level is normalised to."""
_COLUMN = re.compile(r"[A-Za-z_@][A-Za-z0-9_.@-]*")
_DESCRIPTION = {
    "jsonl": "a JSON object (format jsonl)",
    "logfmt": "key=value pairs (format logfmt)",
    "csv": "a CSV row with as many fields as the header (format csv)",
}


@dataclass(frozen=True)
class LogRecord:
    number: int
    """The record's first line in the input, from 1."""
    line: str
    """The text to keep: the line as read (end of line removed), or a CSV row as logfmt."""
    timestamp_ns: int | None
    level: str | None


def read_head(lines: Iterator[str]) -> list[str]:
    """Take from `lines` up to `SNIFF_LINES` non-blank lines (and the blank ones among them)."""
    head: list[str] = []
    non_blank = 0
    for raw in lines:
        head.append(raw)
        non_blank += bool(raw.strip())
        if non_blank >= SNIFF_LINES:
            break
    return head


def looks_binary(lines: Iterable[str]) -> bool:
    return any("\x00" in line for line in lines)


def sniff_format(lines: Iterable[str]) -> LogFormat:
    """The format every non-blank line of `lines` fits (plain if there are none); see the module docstring."""
    sample = [line.strip() for line in lines if line.strip()]
    if not sample:
        return "plain"
    if all(json_object(line) is not None for line in sample):
        return "jsonl"
    if all(is_logfmt(line) for line in sample):
        return "logfmt"
    if _is_csv(sample):
        return "csv"
    return "plain"


def _is_csv(sample: list[str]) -> bool:
    if len(sample) < 2:
        return False
    try:
        rows = list(csv.reader(sample))
    except csv.Error:  # a field over csv's size limit (a long line): not a CSV worth reading as one
        return False
    header = rows[0]
    if len(header) < 2 or not all(_COLUMN.fullmatch(name) for name in header):
        return False
    # The last sampled row may be cut inside a quoted field spanning lines: judge the others.
    body = rows[1:-1] if len(rows) > 2 else rows[1:]
    return all(len(row) == len(header) for row in body)


def json_object(line: str) -> dict[str, object] | None:
    if not line.lstrip().startswith("{"):
        return None
    try:
        value, end = _JSON.raw_decode(line.strip())
    except ValueError:
        return None
    # raw_decode skips json.loads' own checks; trailing text other than blanks is not one object.
    return value if isinstance(value, dict) and not line.strip()[end:] else None


def json_message(line: str) -> str | None:
    """The first of `JSON_MESSAGE_KEYS` in the line's object (the whole line if none); None if not an object."""
    obj = json_object(line)
    if obj is None:
        return None
    for key in JSON_MESSAGE_KEYS:
        value = obj.get(key)
        if value is not None:
            return value if isinstance(value, str) else json.dumps(value)
    return line


def logfmt_message(line: str) -> str | None:
    """The `msg` or `message` value (the whole line if neither); None if the line has no pairs."""
    value = logfmt_value(line, ("msg", "message"))
    if value is not None:
        return value
    return line if "=" in line and parse_logfmt(line) else None


def message_of(line: str) -> str:
    """The text to mine from a line of any format: a JSON object's message, a logfmt line's `msg`, else the line.

    For streams that mix formats line by line (a Loki query's result), where `sniff_format` has
    no file to look at.
    """
    message = json_message(line)
    if message is not None:
        return message
    if is_logfmt(line):
        return logfmt_message(line) or line
    return line


def normalize_level(value: str) -> str:
    text = value.strip().lower()
    return _LEVELS.get(text, text)


def parse_time(value: object) -> int | None:
    """Unix nanoseconds of a timestamp field's value (see the module docstring), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _epoch(Decimal(str(value)))
    if not isinstance(value, str):
        return None
    text = value.strip()
    found = _DATETIME.fullmatch(text)
    if found is not None:
        return _datetime_ns(found)
    try:
        return _epoch(Decimal(text))
    except (InvalidOperation, ValueError):
        return None


def _epoch(number: Decimal) -> int | None:
    if not number.is_finite():
        return None
    magnitude = abs(number)
    # Seconds until the year 5138, then milliseconds, microseconds, nanoseconds.
    scale = _NS if magnitude < 10**11 else 10**6 if magnitude < 10**14 else 10**3 if magnitude < 10**17 else 1
    return int(number * scale)


def _datetime_ns(found: re.Match[str]) -> int | None:
    year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    fraction = found[7] or ""
    zone = found[8] or "Z"
    if zone.upper() != "Z":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds * _NS + int(fraction.ljust(9, "0"))


def _plain_time(line: str, year: int) -> int | None:
    found = _DATETIME.match(line, _skip_bracket(line))
    if found is not None:
        return _datetime_ns(found)
    found = _SYSLOG.match(line)
    if found is None or found[1] not in _MONTHS:
        return None
    day, hour, minute, second = (int(found[n]) for n in range(2, 6))
    return calendar.timegm((year, _MONTHS[found[1]], day, hour, minute, second, 0, 0, 0)) * _NS


def _skip_bracket(line: str) -> int:
    # "[2024-05-01 12:00:00] ..." is as common as the bare form.
    return 1 if line.startswith("[") else 0


def level_word(text: str) -> str | None:
    """The first level word (ERROR, warn, ...) in the first 200 characters of `text`, normalised."""
    found = _LEVEL_WORD.search(text, 0, 200)
    return _LEVELS[found[1].lower()] if found else None


def _field(fields: dict[str, object], keys: tuple[str, ...]) -> object:
    for key in keys:
        if key in fields:
            return fields[key]
    return None


def _from_fields(number: int, line: str, fields: dict[str, object]) -> LogRecord:
    level = _field(fields, LEVEL_KEYS)
    return LogRecord(
        number=number,
        line=line,
        timestamp_ns=parse_time(_field(fields, TIME_KEYS)),
        level=normalize_level(level) if isinstance(level, str) and level.strip() else None,
    )


def _plain(number: int, line: str, year: int) -> LogRecord:
    return LogRecord(number=number, line=line, timestamp_ns=_plain_time(line, year), level=level_word(line))


def parse_records(
    lines: Iterable[str], fmt: LogFormat, *, year: int, strict: bool, source: str = "input", hint: str = ""
) -> Iterator[LogRecord]:
    """The records of `lines` (blank lines skipped) read as `fmt`; see the module docstring.

    With `strict`, a line that does not fit `fmt` raises InputError naming `source` and the line,
    followed by `hint` (what the caller can do); otherwise it is read as plain text.
    """
    if fmt == "csv":
        yield from _csv_records(lines, year=year, strict=strict, source=source, hint=hint)
        return
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields: dict[str, object] | None = None
        if fmt == "jsonl":
            fields = json_object(line)
        elif fmt == "logfmt":
            fields = dict(parse_logfmt(line)) or None
        if fields is not None:
            yield _from_fields(number, line, fields)
        elif fmt != "plain" and strict:
            raise InputError(f"{source}, line {number}, is not {_DESCRIPTION[fmt]}. {hint}".rstrip())
        else:
            yield _plain(number, line, year)


def _csv_records(lines: Iterable[str], *, year: int, strict: bool, source: str, hint: str) -> Iterator[LogRecord]:
    reader = csv.reader(lines)
    try:
        yield from _csv_rows(reader, year=year, strict=strict, source=source, hint=hint)
    except csv.Error as exc:
        raise InputError(f"{source}, line {reader.line_num}, cannot be read as CSV ({exc}). {hint}".rstrip()) from None


def _csv_rows(reader: Any, *, year: int, strict: bool, source: str, hint: str) -> Iterator[LogRecord]:
    header = next(reader, None)
    if header is None:
        return
    # line_num counts the lines read so far, so a row spanning lines is numbered by its first.
    first = reader.line_num + 1
    for row in reader:
        number, first = first, reader.line_num + 1
        if not any(field.strip() for field in row):
            continue
        if len(row) != len(header):
            if strict:
                raise InputError(
                    f"{source}, line {number}, has {len(row)} fields where the header has {len(header)}: "
                    f"it is not {_DESCRIPTION['csv']}. {hint}".rstrip()
                )
            yield _plain(number, ",".join(row), year)
            continue
        fields = dict(zip(header, row, strict=True))
        line = " ".join(f"{name}={_logfmt_value(value)}" for name, value in fields.items())
        yield _from_fields(number, line, {name: value for name, value in fields.items() if value})


def _logfmt_value(value: str) -> str:
    if value and not any(char in value for char in ' ="\\') and value.isprintable():
        return value
    return json.dumps(value, ensure_ascii=False)
