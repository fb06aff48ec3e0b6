"""The embedded log store (SQLite) against the LogStore contract the LogQL engine relies on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest

from common.errors import InputError
from servers.loki_mcp.local.push import decode_push
from servers.loki_mcp.local.records import Matcher, StoredEntry
from servers.loki_mcp.local.store import BATCH_ROWS, SqliteLogStore
from servers.loki_mcp.models import Direction, PushEntry, PushStream

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parents[2] / "fixtures" / "loki"
END = 2**63 - 1


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteLogStore]:
    async with SqliteLogStore(tmp_path / "logs" / "store.db") as opened:
        yield opened


def stream(labels: dict[str, str], *entries: tuple[int, str]) -> PushStream:
    return PushStream(labels=labels, entries=tuple(PushEntry(ts, line) for ts, line in entries))


async def read_all(
    store: SqliteLogStore,
    ids: list[int],
    start: int = 0,
    end: int = END,
    direction: Direction = "forward",
    contains: tuple[str, ...] = (),
) -> list[tuple[int, StoredEntry]]:
    async with aclosing(store.entries(ids, start, end, direction=direction, contains=contains)) as entries:
        return [item async for item in entries]


async def ids_of(store: SqliteLogStore, *matchers: Matcher, start: int = 0, end: int = END) -> list[int]:
    return [info.id for info in await store.select_streams(matchers, start, end)]


async def test_append_returns_entries_written_and_counts_them(store: SqliteLogStore) -> None:
    written = await store.append([stream({"job": "a"}, (1, "x"), (2, "y")), stream({"job": "b"}, (3, "z"))])
    assert written == 3
    assert await store.counts() == (2, 3)


async def test_identical_entries_are_stored_once_as_loki_does(store: SqliteLogStore) -> None:
    await store.append([stream({"job": "a"}, (1, "x"), (1, "x"), (1, "y"))])
    # Same labels in another order are the same stream.
    again = await store.append([stream({"job": "a"}, (1, "x"), (2, "x"))])
    assert again == 1
    assert await store.counts() == (1, 4 - 1)
    assert [(e.timestamp_ns, e.line) for _, e in await read_all(store, await ids_of(store))] == [
        (1, "x"),
        (1, "y"),
        (2, "x"),
    ]


async def test_label_order_does_not_make_a_new_stream(store: SqliteLogStore) -> None:
    await store.append([stream({"a": "1", "b": "2"}, (1, "x"))])
    await store.append([stream({"b": "2", "a": "1"}, (2, "x"))])
    assert await store.counts() == (1, 2)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, "at least one label pair is required"),
        ({"se-rvice": "x"}, "invalid label name 'se-rvice'"),
        ({"1abc": "x"}, "rename it, e.g. to '_1abc'"),
    ],
)
async def test_labels_loki_refuses_are_refused_and_nothing_is_stored(
    store: SqliteLogStore, labels: dict[str, str], expected: str
) -> None:
    with pytest.raises(InputError, match=expected):
        await store.append([stream({"job": "ok"}, (1, "kept?")), stream(labels, (1, "x"))])
    assert await store.counts() == (0, 0)


async def test_select_streams_applies_every_matcher_and_the_window(store: SqliteLogStore) -> None:
    await store.append(
        [
            stream({"app": "web", "level": "error"}, (100, "a")),
            stream({"app": "web", "level": "info"}, (200, "b")),
            stream({"app": "db"}, (100, "c")),
        ]
    )
    web = await store.select_streams([Matcher("app", "=", "web")], 0, END)
    assert [dict(info.labels) for info in web] == [
        {"app": "web", "level": "error"},
        {"app": "web", "level": "info"},
    ]
    errors_or_missing = await store.select_streams([Matcher("level", "!~", "info")], 0, END)
    assert sorted(info.labels["app"] for info in errors_or_missing) == ["db", "web"]
    # Only streams with an entry in [start, end): the end is exclusive.
    assert [dict(i.labels) for i in await store.select_streams([Matcher("app", "=~", "w.*")], 150, 201)] == [
        {"app": "web", "level": "info"}
    ]
    assert await store.select_streams([Matcher("app", "=", "web")], 201, 300) == []
    assert await store.select_streams([Matcher("app", "=", "web")], 200, 200) == []


async def test_entries_merge_streams_in_time_order_both_directions(store: SqliteLogStore) -> None:
    await store.append(
        [
            stream({"s": "a"}, (1, "a1"), (4, "a4"), (5, "a5")),
            stream({"s": "b"}, (2, "b2"), (4, "b4"), (6, "b6")),
        ]
    )
    a, b = await ids_of(store)
    forward = await read_all(store, [a, b], 1, 6)
    assert [(sid, e.timestamp_ns, e.line) for sid, e in forward] == [
        (a, 1, "a1"),
        (b, 2, "b2"),
        (a, 4, "a4"),
        (b, 4, "b4"),
        (a, 5, "a5"),
    ]
    backward = await read_all(store, [a, b], 1, 6, "backward")
    assert backward == list(reversed(forward))
    assert [e.line for _, e in await read_all(store, [b], 0, END, "backward")] == ["b6", "b4", "b2"]


async def test_entries_read_past_one_batch_in_order(store: SqliteLogStore) -> None:
    count = BATCH_ROWS * 2 + 7
    await store.append(
        [
            stream({"s": "even"}, *((2 * i, f"line {2 * i}") for i in range(count // 2 + 1))),
            stream({"s": "odd"}, *((2 * i + 1, f"line {2 * i + 1}") for i in range(count // 2))),
        ]
    )
    got = await read_all(store, await ids_of(store), 0, count, "backward")
    assert [e.timestamp_ns for _, e in got] == list(range(count - 1, -1, -1))


async def test_entries_contains_keeps_lines_with_every_substring(store: SqliteLogStore) -> None:
    await store.append([stream({"s": "a"}, (1, "GET /a 500"), (2, "GET /b 200"), (3, "POST /a 500"))])
    ids = await ids_of(store)
    assert [e.line for _, e in await read_all(store, ids, contains=("500",))] == ["GET /a 500", "POST /a 500"]
    assert [e.line for _, e in await read_all(store, ids, contains=("500", "GET"))] == ["GET /a 500"]


async def test_structured_metadata_round_trips(store: SqliteLogStore) -> None:
    await store.append([PushStream({"s": "a"}, (PushEntry(1, "x", {"trace_id": "abc"}), PushEntry(2, "y")))])
    got = await read_all(store, await ids_of(store))
    assert [dict(e.structured_metadata) for _, e in got] == [{"trace_id": "abc"}, {}]


async def test_stats_counts_entries_and_utf8_bytes_in_the_window(store: SqliteLogStore) -> None:
    await store.append([stream({"s": "a"}, (1, "abc"), (2, "é"), (3, "zz")), stream({"s": "b"}, (2, "1234"))])
    ids = await ids_of(store)
    assert await store.stats(ids, 0, END) == (4, 3 + 2 + 2 + 4)
    assert await store.stats(ids, 2, 3) == (2, 2 + 4)
    assert await store.stats([], 0, END) == (0, 0)


async def test_delete_before_drops_old_entries_and_emptied_streams(store: SqliteLogStore) -> None:
    await store.append([stream({"s": "old"}, (1, "a"), (2, "b")), stream({"s": "mixed"}, (1, "c"), (10, "d"))])
    assert await store.delete_before(5) == 3
    assert await store.counts() == (1, 1)
    assert [dict(i.labels) for i in await store.select_streams([], 0, END)] == [{"s": "mixed"}]
    # A stream deleted and pushed again gets a new row and is found again.
    await store.append([stream({"s": "old"}, (20, "again"))])
    assert sorted(i.labels["s"] for i in await store.select_streams([], 0, END)) == ["mixed", "old"]


async def test_reopening_keeps_streams_and_entries(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    async with SqliteLogStore(path) as first:
        await first.append([stream({"job": "a"}, (1, "x"), (2, "y"))])
    async with SqliteLogStore(path) as second:
        assert await second.counts() == (1, 2)
        ids = await ids_of(second, Matcher("job", "=", "a"))
        assert [e.line for _, e in await read_all(second, ids)] == ["x", "y"]
        # The reopened store knows the stream: the same labels do not make a second one.
        await second.append([stream({"job": "a"}, (3, "z"))])
        assert await second.counts() == (1, 3)


async def test_streams_another_process_writes_are_found_and_ids_are_not_reused(
    store: SqliteLogStore, tmp_path: Path
) -> None:
    # `sre logs ingest` writes to the file a served loki-mcp has open: a second connection here.
    await store.append([stream({"app": "old"}, (1, "x"))])
    (old_id,) = await ids_of(store, Matcher("app", "=", "old"))
    await store.delete_before(10)  # empties and deletes the stream with the highest id
    async with SqliteLogStore(tmp_path / "logs" / "store.db") as other:
        await other.append([stream({"app": "ingested"}, (20, "from elsewhere"))])
    found = await store.select_streams([Matcher("app", "=", "ingested")], 0, END)
    assert [dict(info.labels) for info in found] == [{"app": "ingested"}]
    assert found[0].id > old_id
    assert [(entry.timestamp_ns, entry.line) for _, entry in await read_all(store, [found[0].id])] == [
        (20, "from elsewhere")
    ]
    assert await store.select_streams([Matcher("app", "=", "old")], 0, END) == []


async def test_reads_run_while_a_large_push_is_being_written(store: SqliteLogStore) -> None:
    await store.append([stream({"job": "steady"}, *((i, f"steady {i}") for i in range(500)))])
    steady = await ids_of(store)
    big = [stream({"job": "big"}, *((i, f"big line {i:08d} " + "x" * 80) for i in range(100_000)))]
    seen_during_write: list[tuple[int, int]] = []
    done = anyio.Event()

    async def write() -> None:
        await store.append(big)
        done.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(write)
        while not done.is_set():
            rows = await read_all(store, steady, direction="backward")
            big_ids = [i.id for i in await store.select_streams([Matcher("job", "=", "big")], 0, END)]
            big_count = (await store.stats(big_ids, 0, END))[0] if big_ids else 0
            seen_during_write.append((len(rows), big_count))
    assert seen_during_write
    # Every read saw the steady stream whole and the big push either not at all or whole.
    assert all(count == 500 and big in (0, 100_000) for count, big in seen_during_write)
    assert await store.counts() == (2, 100_500)


async def test_the_recorded_push_bodies_store_689_lines_in_six_streams(store: SqliteLogStore) -> None:
    expected = {
        ("checkout", "error"): 57,
        ("checkout", "info"): 284,
        ("checkout", "warn"): 8,
        ("payments", "error"): 44,
        ("payments", "info"): 291,
        ("payments", "warn"): 5,
    }
    written = 0
    for service in ("checkout", "payments"):
        body = (FIXTURES / f"push_body_{service}.json").read_bytes()
        assert sum(len(s["values"]) for s in json.loads(body)["streams"]) == sum(
            count for (name, _), count in expected.items() if name == service
        )
        written += await store.append(decode_push(body, "application/json", None))
    assert written == 689
    assert await store.counts() == (6, 689)
    counts = {}
    for info in await store.select_streams([Matcher("namespace", "=", "prod")], 0, END):
        counts[(info.labels["service"], info.labels["level"])] = (await store.stats([info.id], 0, END))[0]
    assert counts == expected
    checkout = await ids_of(store, Matcher("service", "=", "checkout"), Matcher("level", "=", "error"))
    first = (await read_all(store, checkout))[0][1]
    assert first.structured_metadata.keys() == {"trace_id"}


async def test_a_closed_store_says_to_open_it(tmp_path: Path) -> None:
    store = SqliteLogStore(tmp_path / "x.db")
    with pytest.raises(RuntimeError, match="not open"):
        await store.counts()
