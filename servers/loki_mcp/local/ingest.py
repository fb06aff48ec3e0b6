"""Log files loaded into the embedded log store, each line at its own time.

Formats, times and levels are `analysis.log_records`'s (jsonl, logfmt, csv, plain; `auto`
sniffs the first lines). What this module adds:
- Labels: `filename` (the base name) and `job` (the name without its extension), then the
  caller's labels (which win), then `level` when the line has one; then what Loki adds on
  push (`service_name`, `detected_level`: `discovery`), so a file reads like pushed logs.
- A line without a time of its own (a stack trace's `at ...` line, say) belongs to the line
  before it: it gets that line's time and, once a timed line has been seen, its level too, so
  the whole record stays in one stream. Lines before the first timed one get `default_time_ns`.
- Lines sharing a time are stored 1 ns apart, in file order. The store orders equal times by
  line text and drops an entry equal in time and text to another (as Loki does); this keeps a
  stack trace in order and a repeated line repeated, and re-reading the file stores nothing twice.
- Memory stays bounded whatever the file: lines are read at most `max_line_chars` at a time (a
  longer one keeps its start and is marked `truncated_from`, see `line_cap`; the rest is skipped
  unread into memory), and entries go to the store in batches bounded in count and characters.
- Only regular files are read unless `allow_special_files`: a named pipe blocks until a writer
  comes, and a device such as /dev/zero never ends.
- A line whose own time is outside 1970..2262 is an InputError naming the file and line.
"""

from __future__ import annotations

import itertools
import stat
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, TextIO

import anyio.to_thread

from analysis.line_limit import bounded_lines
from analysis.log_records import LogFormat, looks_binary, parse_records, read_head, sniff_format
from common.errors import InputError
from common.timerange import LATEST_NS, SUPPORTED_TIMES
from servers.loki_mcp.local.discovery import discover
from servers.loki_mcp.local.line_cap import TRUNCATED_FROM, truncated
from servers.loki_mcp.local.records import LogStore
from servers.loki_mcp.models import PushEntry, PushStream
from servers.loki_mcp.settings import DEFAULT_MAX_LINE_CHARS

__all__ = [
    "BATCH_CHARS",
    "FORMATS",
    "FileEntry",
    "IngestReport",
    "LogFile",
    "file_labels",
    "ingest_file",
    "read_log_file",
]

FileFormat = Literal["auto", "jsonl", "logfmt", "csv", "plain"]
FORMATS: tuple[FileFormat, ...] = ("auto", "jsonl", "logfmt", "csv", "plain")
_NS = 1_000_000_000
BATCH_CHARS = 8_000_000
"""Most characters of line text one append holds, so long lines do not make a batch huge."""


@dataclass(frozen=True)
class FileEntry:
    labels: Mapping[str, str]
    entry: PushEntry
    timestamped: bool
    """False when the time was taken from the line before (or the default)."""


class LogFile(NamedTuple):
    format: LogFormat
    """The format the file is read in (the sniffed one for `auto`)."""
    entries: Generator[FileEntry, None, None]
    """The file's entries in file order; the file is closed when they are exhausted."""


@dataclass(frozen=True)
class IngestReport:
    path: str
    format: LogFormat
    lines_read: int
    """Records read: non-blank lines (CSV: rows after the header)."""
    entries_written: int
    """Entries new to the store (the rest were already there)."""
    first_ns: int | None
    last_ns: int | None
    without_timestamp: int
    lines_cut: int = 0
    """Lines longer than `max_line_chars`, stored cut and marked `truncated_from`."""
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS


def file_labels(path: Path, labels: Mapping[str, str]) -> dict[str, str]:
    return {"filename": path.name, "job": path.stem or path.name, **labels}


def read_log_file(
    path: Path,
    *,
    labels: Mapping[str, str],
    format: FileFormat = "auto",
    default_time_ns: int,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
    allow_special_files: bool = False,
) -> LogFile:
    """Open `path` and read its format; raises InputError if it cannot be read, looks binary, or is
    not a regular file (unless `allow_special_files`)."""
    if format not in FORMATS:
        raise InputError(f"unknown log format {format!r}: use one of {', '.join(FORMATS)}.")
    if not allow_special_files:
        _check_regular(path)
    try:
        # newline="" keeps a CSV field's own line breaks; undecodable bytes become U+FFFD, as
        # one bad line does not make a log unreadable.
        stream = path.open(encoding="utf-8", errors="replace", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}. Check the path and its permissions.") from exc
    cuts: dict[int, int] = {}
    lines = bounded_lines(stream, max_line_chars, cuts)
    try:
        head = read_head(lines)
    except OSError as exc:
        stream.close()
        raise InputError(f"cannot read {path}: {exc.strerror or exc}. Give a regular text file.") from exc
    if looks_binary(head):
        stream.close()
        raise InputError(
            f"{path} looks like a binary file, not a text log (it holds NUL bytes). Give a text log; "
            "decompress a compressed one first (gunzip FILE.gz)."
        )
    fmt: LogFormat = sniff_format(head) if format == "auto" else format
    base = file_labels(path, labels)
    return LogFile(fmt, _entries(stream, lines, cuts, head, fmt, format != "auto", base, default_time_ns, path))


def _check_regular(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}. Check the path and its permissions.") from exc
    if stat.S_ISREG(mode):
        return
    kind = (
        "a named pipe (FIFO), which blocks until something writes to it"
        if stat.S_ISFIFO(mode)
        else "a directory"
        if stat.S_ISDIR(mode)
        else "a device or socket, which may never end (as /dev/zero does)"
    )
    raise InputError(
        f"{path} is not a regular file but {kind}. Pass --allow-special-files to read it anyway "
        "(it is read until it ends), or give a log file."
    )


def _entries(
    stream: TextIO,
    lines: Iterator[str],
    cuts: dict[int, int],
    head: list[str],
    fmt: LogFormat,
    strict: bool,
    base: dict[str, str],
    default_time_ns: int,
    path: Path,
) -> Generator[FileEntry, None, None]:
    year = time.gmtime(default_time_ns // _NS).tm_year
    hint = 'Pass format "plain" to store whole lines, or "auto" to guess the format.'
    by_level: dict[str, Mapping[str, str]] = {}
    seen_time = False
    last_time: int | None = None
    last_ns = default_time_ns
    last_level: str | None = None
    with stream:
        records = parse_records(
            itertools.chain(head, lines), fmt, year=year, strict=strict, source=str(path), hint=hint
        )
        for record in records:
            level = record.level
            if record.timestamp_ns is not None:
                _check_time(record.timestamp_ns, path, record.number)
                raw, seen_time = record.timestamp_ns, True
            else:
                raw = default_time_ns if last_time is None else last_time
                if seen_time:
                    level = last_level
            ns = last_ns + 1 if raw == last_time else raw
            last_time, last_ns, last_level = raw, ns, level
            if level is None:
                labels: Mapping[str, str] = base
            else:
                labels = by_level.get(level) or by_level.setdefault(level, {**base, "level": level})
            entry = PushEntry(timestamp_ns=ns, line=record.line)
            original = cuts.pop(record.number, None)
            if original is not None:
                entry = truncated(entry, original)
            yield FileEntry(labels=labels, entry=entry, timestamped=record.timestamp_ns is not None)


def _check_time(ns: int, path: Path, number: int) -> None:
    if not 0 <= ns <= LATEST_NS:
        raise InputError(
            f"{path} line {number}: its time is outside the times supported ({SUPPORTED_TIMES}). Fix or remove "
            "the line and run the command again: it stores only what is new."
        )


async def ingest_file(
    store: LogStore,
    path: Path,
    *,
    labels: Mapping[str, str] | None = None,
    format: FileFormat = "auto",
    batch: int = 5000,
    default_time_ns: int | None = None,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
    allow_special_files: bool = False,
) -> IngestReport:
    """Read `path` into `store`, at most `batch` entries (and `BATCH_CHARS` characters) per append;
    see the module docstring.

    `default_time_ns` (the time of lines before the first timed one) defaults to the file's
    modification time. Parsing runs on a worker thread, so a large file does not stall the loop.
    """

    def open_file() -> LogFile:
        default = default_time_ns
        if default is None:
            try:
                default = path.stat().st_mtime_ns
            except OSError as exc:
                raise InputError(
                    f"cannot read {path}: {exc.strerror or exc}. Check the path and its permissions."
                ) from exc
        return read_log_file(
            path,
            labels=labels or {},
            format=format,
            default_time_ns=default,
            max_line_chars=max_line_chars,
            allow_special_files=allow_special_files,
        )

    log_file = await anyio.to_thread.run_sync(open_file)
    read = written = untimed = cut = 0
    first_ns: int | None = None
    last_ns: int | None = None
    try:
        while chunk := await anyio.to_thread.run_sync(_take, log_file.entries, batch):
            read += len(chunk)
            untimed += sum(not item.timestamped for item in chunk)
            cut += sum(TRUNCATED_FROM in item.entry.structured_metadata for item in chunk)
            times = [item.entry.timestamp_ns for item in chunk]
            first_ns = min(times) if first_ns is None else min(first_ns, *times)
            last_ns = max(times) if last_ns is None else max(last_ns, *times)
            written += await store.append(discover(_streams(chunk)))
    finally:
        log_file.entries.close()
    return IngestReport(
        path=str(path),
        format=log_file.format,
        lines_read=read,
        entries_written=written,
        first_ns=first_ns,
        last_ns=last_ns,
        without_timestamp=untimed,
        lines_cut=cut,
        max_line_chars=max_line_chars,
    )


def _take(entries: Iterator[FileEntry], most: int) -> list[FileEntry]:
    """The next entries: `most` of them, or fewer holding `BATCH_CHARS` characters of text."""
    chunk: list[FileEntry] = []
    chars = 0
    for item in entries:
        chunk.append(item)
        chars += len(item.entry.line)
        if len(chunk) >= most or chars >= BATCH_CHARS:
            break
    return chunk


def _streams(chunk: list[FileEntry]) -> list[PushStream]:
    # Entries share their labels' dict (one per level), so grouping by identity is grouping by value.
    groups: dict[int, tuple[Mapping[str, str], list[PushEntry]]] = {}
    for item in chunk:
        group = groups.get(id(item.labels))
        if group is None:
            group = groups[id(item.labels)] = (item.labels, [])
        group[1].append(item.entry)
    return [PushStream(labels=dict(labels), entries=tuple(entries)) for labels, entries in groups.values()]
