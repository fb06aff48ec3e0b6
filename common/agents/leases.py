"""Which replica runs which A2A task: `TaskLeases`, rows of `a2a_task_leases` beside the tasks.

Several replicas of an agent may share one task store (PostgreSQL by URL). A task is submitted
or working in the store while some replica's executor runs it; the lease says which one, and
until when:

- a replica takes the lease of a task when its executor takes the task (`take`, before the task
  is first stored, so a task never reads as unfinished without a lease while it is being created),
  and releases it when the executor is done with it (`release`);
- it renews every lease it holds every `lease_seconds / 3` with one UPDATE (`run`); a replica
  that stops (killed, frozen, cut off from the database) stops renewing, and its leases expire
  `lease_seconds` after the last renewal;
- the holder is `host-pid-random` (`replica_id`). A lease held by a process of this host that no
  longer exists is as good as expired (`holder_gone`): a single agent restarted after a crash
  does not wait for the lease of the process it replaces. Replicas on different machines must
  therefore have different host names (containers and pods do).

Expiry times are the replicas' own clocks (seconds since the epoch): their skew must stay well
below `lease_seconds` (NTP keeps it to milliseconds). The table is created at start-up in the
task store's database, on SQLite and PostgreSQL alike. `common.agents.watchdog` fails the
tasks whose lease expired.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time

import anyio
from sqlalchemy import Column, Float, MetaData, String, Table, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["DEFAULT_LEASE_SECONDS", "LEASES", "TaskLeases", "holder_gone", "replica_id"]

logger = logging.getLogger(__name__)

#: How long a task's lease lasts without renewal: a dead replica's task is failed about this long after it died.
DEFAULT_LEASE_SECONDS = 30.0

metadata = MetaData()

LEASES = Table(
    "a2a_task_leases",
    metadata,
    # As long as the SDK's task ids (`tasks.id`, String(36)) and more.
    Column("task_id", String(64), primary_key=True),
    Column("holder", String(255), nullable=False, index=True),
    Column("expires_at", Float, nullable=False),
)


def replica_id() -> str:
    """`host-pid-random`: unique to this process, and saying where it runs (see `holder_gone`)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def holder_gone(holder: str) -> bool:
    """Whether `holder` names a process of this host that no longer runs (a PID reused since reads as alive)."""
    host, _, rest = holder.rpartition("-")[0].rpartition("-")
    if host != socket.gethostname() or not rest.isdigit():
        return False
    try:
        os.kill(int(rest), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's process
        return False
    return False


class TaskLeases:
    """This replica's leases on the tasks it runs (see the module doc)."""

    def __init__(self, engine: AsyncEngine, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.holder = replica_id()
        self._held: set[str] = set()

    async def initialize(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    async def take(self, task_id: str) -> None:
        """Hold `task_id` for `lease_seconds` (whoever held it before: a task runs where it was last sent)."""
        self._held.add(task_id)
        async with self.engine.begin() as connection:
            await connection.execute(delete(LEASES).where(LEASES.c.task_id == task_id))
            await connection.execute(
                insert(LEASES).values(task_id=task_id, holder=self.holder, expires_at=self._expiry())
            )

    async def release(self, task_id: str) -> None:
        """Give up `task_id`; if the database refuses, the lease is no longer renewed and expires."""
        self._held.discard(task_id)
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    delete(LEASES).where(LEASES.c.task_id == task_id, LEASES.c.holder == self.holder)
                )
        except Exception:  # the run is over either way: its end is the SDK's to store
            logger.exception("Releasing the lease of task %s failed; it will expire", task_id)

    async def release_all(self) -> None:
        """Give up every lease (at shutdown, once the runs have been stopped)."""
        self._held.clear()
        async with self.engine.begin() as connection:
            await connection.execute(delete(LEASES).where(LEASES.c.holder == self.holder))

    async def renew(self) -> int:
        """Extend the leases of the tasks this replica runs, in one UPDATE; how many there were."""
        held = list(self._held)
        if not held:
            return 0
        async with self.engine.begin() as connection:
            result = await connection.execute(
                update(LEASES)
                .where(LEASES.c.holder == self.holder, LEASES.c.task_id.in_(held))
                .values(expires_at=self._expiry())
            )
        return result.rowcount

    async def run(self) -> None:
        """Renew every `lease_seconds / 3` until cancelled; a failed renewal is logged and tried again."""
        while True:
            await anyio.sleep(self.lease_seconds / 3)
            try:
                await self.renew()
            except Exception:  # the database may be briefly unreachable; the leases last two more periods
                logger.exception("Renewing the leases of %d task(s) failed", len(self._held))

    def _expiry(self) -> float:
        return time.time() + self.lease_seconds
