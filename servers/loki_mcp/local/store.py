"""The embedded log store: streams and their entries in one SQLite file.

Why this shape:
- `entries` is a WITHOUT ROWID table keyed by (stream_id, ts_ns, line). The key is at once the
  index a query seeks by (a stream's entries in a time range, already in time order) and Loki's
  de-duplication (an entry equal in stream, timestamp and line to a stored one is dropped), so
  there is no second copy of each line in a separate unique index. Measured on 100-byte lines it
  appends faster and reads about 1.6x faster than a rowid table with a unique index, in half the
  space. Very long lines (many KB) are slower in a WITHOUT ROWID table, a price taken for logs.
- Writes go through one connection and reads through another: in WAL mode a query reads a
  snapshot while a push commits. Each connection is used by one worker thread at a time (an
  anyio lock per connection), so the event loop never waits on disk. `synchronous=NORMAL` in WAL
  mode survives a crash of the process, not a power loss: the right trade for a log cache.
- The streams table is small and read on every query, so it lives in memory as well; the engine
  matches labels in Python (regular expressions as Loki runs them), never in SQL.

One `SqliteLogStore` per file: a second process writing the same file would not see the
streams the first one adds.

One module past 400 lines: the schema and every query that relies on it stay on one page.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from common.errors import ConfigError, InputError
from common.timerange import check_unix_ns
from servers.loki_mcp.local.records import Matcher, StoredEntry, StreamInfo
from servers.loki_mcp.models import Direction, PushStream

__all__ = ["BATCH_ROWS", "SCHEMA_VERSION", "SqliteLogStore", "validate_labels"]

BATCH_ROWS = 2000
"""Rows a query reads per trip to the worker thread."""

SCHEMA_VERSION = 1

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NOT_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_]")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    -- AUTOINCREMENT: an id is never reused after retention deletes its stream, so a process
    -- mirroring the table can learn new streams by reading ids above the largest it knows.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    labels TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    stream_id INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    line TEXT NOT NULL,
    metadata TEXT,
    PRIMARY KEY (stream_id, ts_ns, line)
) WITHOUT ROWID;
"""

T = TypeVar("T")


def validate_labels(labels: Mapping[str, str]) -> None:
    """Refuse a label set Loki would refuse: none at all, or a name Prometheus cannot parse."""
    if not labels:
        raise InputError(
            "error at least one label pair is required per stream: give each pushed stream a label "
            'set such as {"job": "app"}.'
        )
    for name in labels:
        if _LABEL_NAME.fullmatch(name) is None:
            raise InputError(
                f"couldn't parse labels: invalid label name {name!r} in stream {_label_text(labels)}: "
                f"a label name must match [a-zA-Z_][a-zA-Z0-9_]*; rename it, e.g. to {_suggest(name)!r}."
            )


def _suggest(name: str) -> str:
    fixed = _NOT_NAME_CHAR.sub("_", name) or "_"
    return fixed if _LABEL_NAME.fullmatch(fixed) else f"_{fixed}"


def _label_text(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{name}={json.dumps(value)}" for name, value in labels.items()) + "}"


def _fingerprint(labels: Mapping[str, str]) -> str:
    return json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)


class SqliteLogStore:
    """A `LogStore` in the SQLite file at `path` (created, with its directory, on `open`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_lock = anyio.Lock()
        self._read_lock = anyio.Lock()
        # fingerprint -> id, and id -> the stream, mirrored from the streams table. Changed only
        # on the event loop, after the write that changed the table committed.
        self._ids: dict[str, int] = {}
        self._streams: dict[int, StreamInfo] = {}

    async def __aenter__(self) -> SqliteLogStore:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        self._writer, self._reader, rows = await anyio.to_thread.run_sync(self._connect)
        for stream_id, labels in rows:
            self._remember(stream_id, json.loads(labels))

    def _connect(self) -> tuple[sqlite3.Connection, sqlite3.Connection, list[tuple[int, str]]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            version = writer.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise ConfigError(
                    f"The log store {self.path} has schema version {version}; this version of loki-mcp "
                    f"reads version {SCHEMA_VERSION}. Point SRE_DATA_DIR elsewhere or move the file away."
                )
            writer.execute("PRAGMA journal_mode=WAL")
            writer.execute("PRAGMA synchronous=NORMAL")
            writer.executescript(_SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")
            reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except BaseException:
            writer.close()
            raise
        # A backward query over a wide window sorts in memory rather than in temporary files.
        reader.execute("PRAGMA temp_store=MEMORY")
        reader.execute("PRAGMA query_only=ON")
        rows = reader.execute("SELECT id, labels FROM streams").fetchall()
        return writer, reader, rows

    async def aclose(self) -> None:
        async with self._write_lock, self._read_lock:
            for connection in (self._reader, self._writer):
                if connection is not None:
                    await anyio.to_thread.run_sync(connection.close)
            self._writer = self._reader = None

    def _remember(self, stream_id: int, labels: dict[str, str]) -> None:
        self._ids[_fingerprint(labels)] = stream_id
        self._streams[stream_id] = StreamInfo(id=stream_id, labels=MappingProxyType(labels))

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._write_lock:
            return await anyio.to_thread.run_sync(work, _open_connection(self._writer))

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._read_lock:
            return await anyio.to_thread.run_sync(work, _open_connection(self._reader))

    async def append(self, streams: Sequence[PushStream]) -> int:
        """Store the entries of `streams` in one transaction; returns how many were new.

        Raises InputError for a label set Loki refuses (nothing is stored then).
        """
        for stream in streams:
            validate_labels(stream.labels)
            for entry in stream.entries:
                check_unix_ns(entry.timestamp_ns, f"the timestamp of an entry of {_label_text(stream.labels)}")
        known = self._ids

        def write(connection: sqlite3.Connection) -> tuple[int, list[tuple[int, dict[str, str]]]]:
            created: list[tuple[int, dict[str, str]]] = []
            ids: dict[str, int] = {}
            before = connection.total_changes
            connection.execute("BEGIN IMMEDIATE")
            try:
                for stream in streams:
                    fingerprint = _fingerprint(stream.labels)
                    stream_id = known.get(fingerprint) or ids.get(fingerprint)
                    if stream_id is None:
                        stream_id = ids[fingerprint] = _stream_id(connection, fingerprint, stream.labels, created)
                    connection.executemany(
                        "INSERT OR IGNORE INTO entries (stream_id, ts_ns, line, metadata) VALUES (?, ?, ?, ?)",
                        [
                            (
                                stream_id,
                                entry.timestamp_ns,
                                entry.line,
                                json.dumps(entry.structured_metadata, ensure_ascii=False)
                                if entry.structured_metadata
                                else None,
                            )
                            for entry in stream.entries
                        ],
                    )
                new_streams = len(created)
                connection.execute("COMMIT")
            except UnicodeEncodeError as exc:
                connection.execute("ROLLBACK")
                raise InputError(
                    "A pushed line or label holds a lone UTF-16 surrogate (such as an escaped \\ud800 "
                    "in JSON), which is not text; send valid UTF-8."
                ) from exc
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            return connection.total_changes - before - new_streams, created

        written, created = await self._write(write)
        for stream_id, labels in created:
            self._remember(stream_id, labels)
        return written

    async def select_streams(self, matchers: Sequence[Matcher], start_ns: int, end_ns: int) -> list[StreamInfo]:
        """The streams every matcher selects that have at least one entry in [start_ns, end_ns)."""
        await self._learn_new_streams()
        candidates = [stream.id for stream in self._streams.values() if all(m.matches(stream.labels) for m in matchers)]
        if not candidates or start_ns >= end_ns:
            return []

        def having_entries(connection: sqlite3.Connection) -> list[tuple[int]]:
            return connection.execute(
                "SELECT value FROM json_each(?) WHERE EXISTS (SELECT 1 FROM entries "
                "WHERE stream_id = value AND ts_ns >= ? AND ts_ns < ?)",
                (json.dumps(candidates), _int64(start_ns), _int64(end_ns)),
            ).fetchall()

        found = await self._read(having_entries)
        return sorted((self._streams[row[0]] for row in found), key=lambda stream: stream.id)

    async def _learn_new_streams(self) -> None:
        """Mirror streams another process created (`sre logs ingest` writing to a served store).

        Stream ids only grow, so one primary-key range read finds them; it costs microseconds.
        """
        known = max(self._streams, default=0)

        def created_since(connection: sqlite3.Connection) -> list[tuple[int, str]]:
            return connection.execute("SELECT id, labels FROM streams WHERE id > ?", (known,)).fetchall()

        for stream_id, labels in await self._read(created_since):
            self._remember(stream_id, json.loads(labels))

    async def entries(
        self,
        stream_ids: Sequence[int],
        start_ns: int,
        end_ns: int,
        *,
        direction: Direction,
        contains: Sequence[str] = (),
    ) -> AsyncIterator[tuple[int, StoredEntry]]:
        """(stream id, entry) in [start_ns, end_ns), ordered by timestamp, then stream id, then line.

        One SQL query over all the streams, read `BATCH_ROWS` at a time. Close the iterator when
        stopping early (`contextlib.aclosing`) so the query's snapshot is released at once.
        """
        if not stream_ids or start_ns >= end_ns:
            return
        where, params = _where(stream_ids, start_ns, end_ns)
        for text in contains:
            where += " AND instr(line, ?) > 0"
            params.append(text)
        order = "DESC" if direction == "backward" else "ASC"
        sql = (
            f"SELECT stream_id, ts_ns, line, metadata FROM entries WHERE {where} "  # noqa: S608 - no caller text
            f"ORDER BY ts_ns {order}, stream_id {order}, line {order}"
        )
        cursor: sqlite3.Cursor | None = None

        def first(connection: sqlite3.Connection) -> list[Any]:
            nonlocal cursor
            cursor = connection.execute(sql, params)
            return cursor.fetchmany(BATCH_ROWS)

        try:
            rows = await self._read(first)
            while rows:
                for stream_id, ts_ns, line, metadata in rows:
                    if metadata is None:
                        yield stream_id, StoredEntry(ts_ns, line)
                    else:
                        yield stream_id, StoredEntry(ts_ns, line, json.loads(metadata))
                if len(rows) < BATCH_ROWS:
                    return
                rows = await self._read(lambda _: _fetch(cursor))
        finally:
            if cursor is not None:
                # SQLite serialises calls on one connection, so closing from here is safe.
                cursor.close()

    async def stats(self, stream_ids: Sequence[int], start_ns: int, end_ns: int) -> tuple[int, int]:
        """(entries, bytes of line text) of those streams in [start_ns, end_ns)."""
        if not stream_ids or start_ns >= end_ns:
            return 0, 0
        where, params = _where(stream_ids, start_ns, end_ns)
        sql = f"SELECT count(*), coalesce(sum(length(CAST(line AS BLOB))), 0) FROM entries WHERE {where}"  # noqa: S608

        def aggregate(connection: sqlite3.Connection) -> tuple[int, int]:
            count, size = connection.execute(sql, params).fetchone()
            return int(count), int(size)

        return await self._read(aggregate)

    async def delete_before(self, ts_ns: int) -> int:
        """Delete entries older than `ts_ns` and the streams left empty; returns the entries deleted."""

        def delete(connection: sqlite3.Connection) -> tuple[int, list[int]]:
            connection.execute("BEGIN IMMEDIATE")
            try:
                # Per stream, so each delete is a range of the primary key rather than a table scan.
                deleted = connection.execute(
                    "DELETE FROM entries WHERE stream_id IN (SELECT id FROM streams) AND ts_ns < ?", (ts_ns,)
                ).rowcount
                emptied = [
                    row[0]
                    for row in connection.execute(
                        "DELETE FROM streams WHERE NOT EXISTS (SELECT 1 FROM entries WHERE stream_id = streams.id) "
                        "RETURNING id"
                    ).fetchall()
                ]
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            return deleted, emptied

        deleted, emptied = await self._write(delete)
        for stream_id in emptied:
            stream = self._streams.pop(stream_id, None)
            if stream is not None:
                self._ids.pop(_fingerprint(stream.labels), None)
        return deleted

    async def counts(self) -> tuple[int, int]:
        """(streams, entries) stored."""

        def count(connection: sqlite3.Connection) -> tuple[int, int]:
            streams, entries = connection.execute(
                "SELECT (SELECT count(*) FROM streams), (SELECT count(*) FROM entries)"
            ).fetchone()
            return int(streams), int(entries)

        return await self._read(count)


def _int64(ns: int) -> int:
    """`ns` clamped to what SQLite's INTEGER holds: a window reaching past it holds nothing more there.

    A metric query's window is its steps widened by the range, which may pass 2262 or 1970 even
    when every time the caller wrote was checked.
    """
    return max(_INT64_MIN, min(ns, _INT64_MAX))


def _where(stream_ids: Sequence[int], start_ns: int, end_ns: int) -> tuple[str, list[Any]]:
    start_ns, end_ns = _int64(start_ns), _int64(end_ns)
    # One stream: an equality lets SQLite read the primary key in order, with no sort, so a query
    # that stops early reads only what it returns. Several: one list parameter, whatever its size.
    if len(stream_ids) == 1:
        return "stream_id = ? AND ts_ns >= ? AND ts_ns < ?", [stream_ids[0], start_ns, end_ns]
    return (
        "stream_id IN (SELECT value FROM json_each(?)) AND ts_ns >= ? AND ts_ns < ?",
        [json.dumps(list(stream_ids)), start_ns, end_ns],
    )


def _fetch(cursor: sqlite3.Cursor | None) -> list[Any]:
    assert cursor is not None
    return cursor.fetchmany(BATCH_ROWS)


def _stream_id(
    connection: sqlite3.Connection,
    fingerprint: str,
    labels: Mapping[str, str],
    created: list[tuple[int, dict[str, str]]],
) -> int:
    """The id of the stream `labels`, inserted (and added to `created`) if the table lacks it."""
    # The table may already hold it: another append may have added it since this one began.
    found = connection.execute("SELECT id FROM streams WHERE fingerprint = ?", (fingerprint,)).fetchone()
    if found is not None:
        return int(found[0])
    copy = dict(labels)
    cursor = connection.execute(
        "INSERT INTO streams (fingerprint, labels) VALUES (?, ?)", (fingerprint, json.dumps(copy, ensure_ascii=False))
    )
    assert cursor.lastrowid is not None
    created.append((cursor.lastrowid, copy))
    return cursor.lastrowid


def _open_connection(connection: sqlite3.Connection | None) -> sqlite3.Connection:
    if connection is None:
        raise RuntimeError("the log store is not open: call `await store.open()` (or use `async with`) first")
    return connection
