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
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, TextIO

import anyio.to_thread

from analysis.log_records import LogFormat, looks_binary, parse_records, read_head, sniff_format
from common.errors import InputError
from servers.loki_mcp.local.discovery import discover
from servers.loki_mcp.local.records import LogStore
from servers.loki_mcp.models import PushEntry, PushStream

__all__ = ["FORMATS", "FileEntry", "IngestReport", "LogFile", "file_labels", "ingest_file", "read_log_file"]

FileFormat = Literal["auto", "jsonl", "logfmt", "csv", "plain"]
FORMATS: tuple[FileFormat, ...] = ("auto", "jsonl", "logfmt", "csv", "plain")
_NS = 1_000_000_000


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


def file_labels(path: Path, labels: Mapping[str, str]) -> dict[str, str]:
    return {"filename": path.name, "job": path.stem or path.name, **labels}


def read_log_file(
    path: Path, *, labels: Mapping[str, str], format: FileFormat = "auto", default_time_ns: int
) -> LogFile:
    """Open `path` and read its format; raises InputError if it cannot be read or looks binary."""
    if format not in FORMATS:
        raise InputError(f"unknown log format {format!r}: use one of {', '.join(FORMATS)}.")
    try:
        # newline="" keeps a CSV field's own line breaks; undecodable bytes become U+FFFD, as
        # one bad line does not make a log unreadable.
        stream = path.open(encoding="utf-8", errors="replace", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}. Check the path and its permissions.") from exc
    try:
        head = read_head(stream)
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
    return LogFile(fmt, _entries(stream, head, fmt, format != "auto", base, default_time_ns, path))


def _entries(
    stream: TextIO,
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
            itertools.chain(head, stream), fmt, year=year, strict=strict, source=str(path), hint=hint
        )
        for record in records:
            level = record.level
            if record.timestamp_ns is not None:
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
            yield FileEntry(
                labels=labels,
                entry=PushEntry(timestamp_ns=ns, line=record.line),
                timestamped=record.timestamp_ns is not None,
            )


async def ingest_file(
    store: LogStore,
    path: Path,
    *,
    labels: Mapping[str, str] | None = None,
    format: FileFormat = "auto",
    batch: int = 5000,
    default_time_ns: int | None = None,
) -> IngestReport:
    """Read `path` into `store`, `batch` entries per append; see the module docstring.

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
        return read_log_file(path, labels=labels or {}, format=format, default_time_ns=default)

    log_file = await anyio.to_thread.run_sync(open_file)
    read = written = untimed = 0
    first_ns: int | None = None
    last_ns: int | None = None
    try:
        while chunk := await anyio.to_thread.run_sync(lambda: list(itertools.islice(log_file.entries, batch))):
            read += len(chunk)
            untimed += sum(not item.timestamped for item in chunk)
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
    )


def _streams(chunk: list[FileEntry]) -> list[PushStream]:
    # Entries share their labels' dict (one per level), so grouping by identity is grouping by value.
    groups: dict[int, tuple[Mapping[str, str], list[PushEntry]]] = {}
    for item in chunk:
        group = groups.get(id(item.labels))
        if group is None:
            group = groups[id(item.labels)] = (item.labels, [])
        group[1].append(item.entry)
    return [PushStream(labels=dict(labels), entries=tuple(entries)) for labels, entries in groups.values()]
