"""The shared engine factory under concurrency: SQLite stores take a storm of writers without losing one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import pytest
from a2a.server.context import ServerCallContext
from a2a.server.tasks import DatabaseTaskStore
from a2a.types import Task, TaskState, TaskStatus
from sqlalchemy import Column, Integer, MetaData, String, Table, select, update

from common.agents.app import ClientUser
from common.database import create_database_engine

pytestmark = pytest.mark.anyio

WRITERS = 100
UPDATES = 3

metadata = MetaData()
COUNTERS = Table("counters", metadata, Column("name", String(32), primary_key=True), Column("value", Integer))


async def test_a_storm_of_task_saves_and_a_second_engine_on_the_same_file_lose_no_write(tmp_path: Path) -> None:
    # The a2a-sdk store saves with `session.merge` (a read, then a write, in one transaction): the
    # pattern that failed with "database is locked" and pool time-outs under ~200 tasks at once.
    url = f"sqlite+aiosqlite:///{tmp_path / 'agent-tasks.db'}"
    tasks_engine, counters_engine = create_database_engine(url), create_database_engine(url)
    store = DatabaseTaskStore(tasks_engine)
    await store.initialize()
    async with counters_engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(COUNTERS.insert().values(name="hits", value=0))
    context = ServerCallContext(user=ClientUser("router"))

    async def run_task(number: int) -> None:
        task = Task(id=f"task-{number}", context_id=f"context-{number}")
        for state in (TaskState.TASK_STATE_SUBMITTED, *[TaskState.TASK_STATE_WORKING] * UPDATES):
            task.status.CopyFrom(TaskStatus(state=state))
            await store.save(task, context)
        task.status.CopyFrom(TaskStatus(state=TaskState.TASK_STATE_COMPLETED))
        await store.save(task, context)

    async def count_hit() -> None:
        # Read-modify-write on another engine (the router keeps its records beside its A2A tasks).
        async with counters_engine.begin() as connection:
            value = (await connection.execute(select(COUNTERS.c.value))).scalar_one()
            await connection.execute(update(COUNTERS).values(value=value + 1))

    try:
        results = await asyncio.gather(
            *(run_task(n) for n in range(WRITERS)), *(count_hit() for _ in range(WRITERS)), return_exceptions=True
        )
        errors = [repr(result) for result in results if isinstance(result, BaseException)]
        assert errors == [], f"{len(errors)} of {len(results)} writers failed, e.g. {errors[:3]}"
        saved = [await store.get(f"task-{n}", context) for n in range(WRITERS)]
        assert [task.status.state if task else None for task in saved] == [TaskState.TASK_STATE_COMPLETED] * WRITERS
        async with counters_engine.connect() as connection:
            assert (await connection.execute(select(COUNTERS.c.value))).scalar_one() == WRITERS
    finally:
        await tasks_engine.dispose()
        await counters_engine.dispose()


async def test_reads_go_on_while_a_transaction_writes_and_writers_take_turns(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(COUNTERS.insert().values(name="hits", value=0))
    writing, release = asyncio.Event(), asyncio.Event()

    async def slow_increment() -> None:
        async with engine.begin() as connection:
            value = (await connection.execute(select(COUNTERS.c.value))).scalar_one()
            await connection.execute(update(COUNTERS).values(value=value + 1))
            writing.set()
            await release.wait()

    async def increment() -> None:
        async with engine.begin() as connection:
            value = (await connection.execute(select(COUNTERS.c.value))).scalar_one()
            await connection.execute(update(COUNTERS).values(value=value + 1))

    try:
        first = asyncio.create_task(slow_increment())
        await writing.wait()
        with anyio.fail_after(5):  # a read is not queued behind the writer: it sees the last commit
            async with engine.connect() as connection:
                assert (await connection.execute(select(COUNTERS.c.value))).scalar_one() == 0
        second = asyncio.create_task(increment())
        done, _ = await asyncio.wait({second}, timeout=0.3)
        assert not done  # the second writer waits for its turn...
        release.set()
        await asyncio.gather(first, second)
        async with engine.connect() as connection:  # ...and then reads what the first one wrote
            assert (await connection.execute(select(COUNTERS.c.value))).scalar_one() == 2
    finally:
        release.set()
        await engine.dispose()


async def test_sqlite_files_are_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'store.db'}")
    try:
        async with engine.connect() as connection:
            mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert (mode, timeout > 0) == ("wal", True)
    finally:
        await engine.dispose()
