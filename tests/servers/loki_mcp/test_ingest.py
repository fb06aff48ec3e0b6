"""Log files loaded into the embedded log store: formats, times, continuation lines, labels."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import pytest

from common.errors import InputError
from servers.loki_mcp.local.ingest import ingest_file, read_log_file
from servers.loki_mcp.local.records import Matcher
from servers.loki_mcp.local.store import SqliteLogStore

pytestmark = pytest.mark.anyio

T0 = 1714557600_000000000  # 2024-05-01T10:00:00Z
END = 2**63 - 1


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteLogStore]:
    async with SqliteLogStore(tmp_path / "store.db") as opened:
        yield opened


async def stored(store: SqliteLogStore) -> list[tuple[dict[str, str], int, str]]:
    """Every entry, oldest first, with its stream's labels."""
    streams = {info.id: dict(info.labels) for info in await store.select_streams([], 0, END)}
    async with aclosing(store.entries(list(streams), 0, END, direction="forward")) as entries:
        return [(streams[sid], entry.timestamp_ns, entry.line) async for sid, entry in entries]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_plain_log_keeps_a_stack_trace_with_its_line_in_order(store: SqliteLogStore, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "app.log",
        "2024-05-01T10:00:00Z ERROR request failed\n"
        "java.lang.NullPointerException: null\n"
        "    at Handler.run(Handler.java:42)\n"
        "2024-05-01T10:00:01Z INFO recovered\n",
    )
    report = await ingest_file(store, path, labels={"env": "test"})
    assert (report.format, report.lines_read, report.entries_written, report.without_timestamp) == ("plain", 4, 4, 2)
    assert (report.first_ns, report.last_ns) == (T0, T0 + 1_000_000_000)
    # service_name is what Loki would add on push (from `job` here), as for pushed streams.
    error = {"filename": "app.log", "job": "app", "env": "test", "level": "error", "service_name": "app"}
    assert await stored(store) == [
        (error, T0, "2024-05-01T10:00:00Z ERROR request failed"),
        (error, T0 + 1, "java.lang.NullPointerException: null"),
        (error, T0 + 2, "    at Handler.run(Handler.java:42)"),
        ({**error, "level": "info"}, T0 + 1_000_000_000, "2024-05-01T10:00:01Z INFO recovered"),
    ]


async def test_reingesting_a_file_writes_nothing_new(store: SqliteLogStore, tmp_path: Path) -> None:
    path = write(tmp_path, "app.log", "2024-05-01T10:00:00Z retry\n2024-05-01T10:00:00Z retry\n")
    assert (await ingest_file(store, path)).entries_written == 2  # a repeated line is kept: 1 ns apart
    assert (await ingest_file(store, path)).entries_written == 0


async def test_lines_before_any_time_get_the_default_time(store: SqliteLogStore, tmp_path: Path) -> None:
    path = write(tmp_path, "boot.txt", "starting\nstill starting\n2024-05-01T10:00:05Z ready\n")
    report = await ingest_file(store, path, default_time_ns=T0)
    assert [(ts, line) for _, ts, line in await stored(store)] == [
        (T0, "starting"),
        (T0 + 1, "still starting"),
        (T0 + 5_000_000_000, "2024-05-01T10:00:05Z ready"),
    ]
    assert report.without_timestamp == 2


async def test_jsonl_takes_time_and_level_fields(store: SqliteLogStore, tmp_path: Path) -> None:
    lines = ['{"time": "2024-05-01T10:00:00Z", "level": "ERROR", "msg": "a"}', '{"ts": 1714557601000, "msg": "b"}']
    path = write(tmp_path, "svc.jsonl", "\n".join(lines) + "\n")
    report = await ingest_file(store, path, labels={"job": "custom"})
    assert report.format == "jsonl"
    assert await stored(store) == [
        ({"filename": "svc.jsonl", "job": "custom", "level": "error", "service_name": "custom"}, T0, lines[0]),
        ({"filename": "svc.jsonl", "job": "custom", "service_name": "custom"}, T0 + 1_000_000_000, lines[1]),
    ]


async def test_logfmt_and_csv_are_detected(store: SqliteLogStore, tmp_path: Path) -> None:
    logfmt = write(tmp_path, "pay.log", "ts=2024-05-01T10:00:00Z level=warn msg=retry\n")
    table = write(tmp_path, "events.csv", 'timestamp,severity,message\n2024-05-01T10:00:02Z,info,"a, b"\n')
    assert (await ingest_file(store, logfmt)).format == "logfmt"
    assert (await ingest_file(store, table)).format == "csv"
    assert [(labels["job"], labels.get("level"), ts, line) for labels, ts, line in await stored(store)] == [
        ("pay", "warn", T0, "ts=2024-05-01T10:00:00Z level=warn msg=retry"),
        ("events", "info", T0 + 2_000_000_000, 'timestamp=2024-05-01T10:00:02Z severity=info message="a, b"'),
    ]


async def test_batches_cover_the_whole_file(store: SqliteLogStore, tmp_path: Path) -> None:
    path = write(tmp_path, "big.log", "".join(f"2024-05-01T10:00:{i % 60:02d}Z line {i}\n" for i in range(1234)))
    report = await ingest_file(store, path, batch=100)
    assert (report.lines_read, report.entries_written) == (1234, 1234)
    assert await store.counts() == (1, 1234)


def test_an_explicit_format_that_does_not_fit_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.jsonl", '{"a": 1}\nplain words\n')
    log_file = read_log_file(path, labels={}, format="jsonl", default_time_ns=T0)
    with pytest.raises(InputError, match=r"x\.jsonl, line 2, is not a JSON object .*Pass format \"plain\""):
        list(log_file.entries)


def test_a_binary_file_is_refused_suggesting_decompression(tmp_path: Path) -> None:
    path = tmp_path / "app.log.gz"
    path.write_bytes(gzip.compress(b"hello\n" * 100) + b"\x00" * 10)
    with pytest.raises(InputError, match=r"app\.log\.gz looks like a binary file.*gunzip"):
        read_log_file(path, labels={}, default_time_ns=T0)


async def test_a_missing_file_is_named(store: SqliteLogStore, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read .*missing\.log"):
        await ingest_file(store, tmp_path / "missing.log")


async def test_caller_labels_select_the_ingested_streams(store: SqliteLogStore, tmp_path: Path) -> None:
    await ingest_file(store, write(tmp_path, "a.log", "2024-05-01T10:00:00Z ok\n"), labels={"team": "x"})
    found = await store.select_streams([Matcher("team", "=", "x"), Matcher("filename", "=", "a.log")], 0, END)
    assert [dict(info.labels) for info in found] == [
        {"filename": "a.log", "job": "a", "team": "x", "service_name": "a"}
    ]
