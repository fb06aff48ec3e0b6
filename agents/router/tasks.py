"""The router's record of the tasks it started: which agent runs each, for whom, and why.

The task itself lives at the agent (its state, messages and result are read from there, live);
the router keeps one row per task it started: its own task id (what callers see), the owner (the
OAuth client that asked, or `webhook-basic`), the agent's name and URL, the A2A task and context
ids, the trigger, when, and the de-duplication keys of a webhook delivery. SQLite by default,
PostgreSQL by URL, in the same database as the router's A2A tasks (table `router_tasks`). Several
router replicas may share one PostgreSQL database: everything below holds across them.

Delivery: a webhook or `/diagnostics/*` start is recorded before its agent is asked
(`delivery` `pending`, the input kept as JSON text in `payload`, the A2A ids and agent URL empty);
`agents.router.delivery` sends it and marks it `started` (the ids filled, the payload dropped) or
`failed` (with the reason in `failure`), or `grouped` into another delivery whose investigation
answers it (`grouped_into`; it carries that task's A2A ids once it started). A row with no
`delivery` (from before deliveries were queued) was started when it was recorded.

Group leads: the delivery an outage's investigation was started for is recorded as the lead of
its root (`router_group_leads`: one row per owner, agent and root resource, `take_root`), so that
a page of that outage planned later, by this replica or another, joins the running investigation
(`leads_of`, `mark_grouped`) instead of starting another. The primary key decides between two
replicas planning one outage at once: the second finds the root taken and groups its own lead
under the first's.

Claims: a pending row is sent by the one replica that claimed it (`claim`: `claimed_by`, a lease
until `lease_until`, `attempts` counting the claims). PostgreSQL picks claimable rows with
`FOR UPDATE SKIP LOCKED`, SQLite's `BEGIN IMMEDIATE` serialises the claimers. The holder renews
its lease while it sends (`renew`) and only the holder settles the row (`mark_started`,
`mark_failed`, `defer`: conditional updates that say whether the claim still held). A row whose
lease ran out (its replica died) is claimable again; `due_at` holds a row back until then (a
retry's back-off, an alert's group wait).

De-duplication: a delivery's `dedup_key` names the incident (`delivery_key`, or a deployment's
service, namespace, id and status) for one owner, and a unique index holds one row per key:
`add(task, release_before=...)` forgets the keys older than the TTL and inserts in one
transaction, and raises `KeyHeld` naming the row that holds the key when another request (of any
replica) recorded it first. `retire` forgets the key of a task that ended without a result so the
delivery can be recorded again. `dedup_group` names an Alertmanager group: when the group
resolves, its keys are released (`release_group`), so the same alerts firing again later are a
new incident.

Migrations (`start`): the columns added since the table first shipped are added to an older
table (`create_all` creates missing tables, never missing columns), older duplicate keys are
nulled (the newest row of each key keeps it), then the unique index replaces the plain one; tables
added since (`router_group_leads`) are created as they are missing. On PostgreSQL the replicas
starting together take turns (an advisory lock).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    RowMapping,
    String,
    Table,
    Text,
    and_,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from common.database import create_database_engine, display_url
from common.errors import SreError

__all__ = ["ALERT", "FAILED", "GROUPED", "PENDING", "STARTED", "KeyHeld", "RouterTask", "TaskRecords"]

logger = logging.getLogger(__name__)

metadata = MetaData()

#: Delivery states: recorded and not yet taken by its agent; taken (the task runs there); given up;
#: answered by the investigation of another delivery (`grouped_into`).
PENDING, STARTED, FAILED, GROUPED = "pending", "started", "failed", "grouped"
#: The trigger kind of an Alertmanager delivery (the only kind grouped).
ALERT = "alert"

TABLE = Table(
    "router_tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(255), nullable=False, index=True),
    Column("agent", String(64), nullable=False),
    Column("agent_url", String(2048), nullable=False),
    Column("a2a_task_id", String(64), nullable=False),
    Column("a2a_context_id", String(64), nullable=False),
    Column("trigger_kind", String(16), nullable=False),
    Column("trigger_summary", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("dedup_key", String(64), nullable=True),
    Column("dedup_group", String(64), nullable=True, index=True),
    # Added after the table first shipped (see `_migrate`): nullable.
    Column("delivery", String(16), nullable=True),
    Column("payload", Text, nullable=True),
    Column("failure", Text, nullable=True),
    Column("claimed_by", String(128), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("attempts", Integer, nullable=True),
    Column("due_at", Float, nullable=True),
    Column("grouped_into", String(64), nullable=True),
)
#: One row per de-duplication key (NULLs, the released keys, are not compared).
UNIQUE_KEY = Index("ux_router_tasks_dedup_key", TABLE.c.dedup_key, unique=True)
#: The claimers' search: pending rows are few among many settled ones.
BY_DELIVERY = Index("ix_router_tasks_delivery", TABLE.c.delivery)
#: The lead of each outage's investigation, by owner, agent and root resource (`namespace/name`): what a late page
#: of the outage joins. A row older than the join window, or whose lead ended, is replaced by the next lead.
GROUP_LEADS = Table(
    "router_group_leads",
    metadata,
    Column("owner", String(255), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("root", String(512), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("taken_at", Float, nullable=False),
    PrimaryKeyConstraint("owner", "agent", "root"),
)
#: The plain index `dedup_key` had before it was unique.
_OLD_KEY_INDEX = "ix_router_tasks_dedup_key"
#: The columns `_migrate` adds to an older table, with their SQL types.
_ADDED_COLUMNS = {
    "delivery": "VARCHAR(16)",
    "payload": "TEXT",
    "failure": "TEXT",
    "claimed_by": "VARCHAR(128)",
    "lease_until": "FLOAT",
    "attempts": "INTEGER",
    "due_at": "FLOAT",
    "grouped_into": "VARCHAR(64)",
}
#: How many times `take_root` reads a root's lead and records its own (each miss: another replica recorded one).
_KEY_TRIES = 3
#: The PostgreSQL advisory lock the replicas' migrations take turns on (any constant of this table's own).
_MIGRATION_LOCK = 0x5F726F75746572


class KeyHeld(SreError):
    """The delivery's de-duplication key is held by `holder`: the delivery was recorded already."""

    def __init__(self, holder: RouterTask) -> None:
        super().__init__(f"the delivery is recorded already as router task {holder.id}")
        self.holder = holder


@dataclass(frozen=True)
class RouterTask:
    id: str
    owner: str
    agent: str
    agent_url: str
    a2a_task_id: str
    a2a_context_id: str
    trigger_kind: str
    trigger_summary: str
    created_at: float
    dedup_key: str | None = None
    dedup_group: str | None = None
    delivery: str | None = None
    payload: str | None = None
    failure: str | None = None
    claimed_by: str | None = None
    lease_until: float | None = None
    #: How many times a replica claimed it: above 1, an earlier claimer may have sent it.
    attempts: int = 0
    due_at: float | None = None
    grouped_into: str | None = None

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(self.created_at, UTC)

    @property
    def pending(self) -> bool:
        return self.delivery == PENDING

    @property
    def failed(self) -> bool:
        return self.delivery == FAILED

    @property
    def grouped(self) -> bool:
        return self.delivery == GROUPED

    @property
    def taken(self) -> bool:
        """Whether an agent runs it (its A2A ids are set): started, grouped into a started one, or older."""
        return bool(self.a2a_task_id)


class TaskRecords:
    """The `router_tasks` table; create with a SQLAlchemy async URL, then `start()`."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._display_url = display_url(url)
        self._engine = create_database_engine(url)

    async def start(self) -> None:
        async with self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
            await connection.run_sync(metadata.create_all)
            await connection.run_sync(_migrate)
        logger.info("The router records the tasks it starts in %s", self._display_url)

    async def close(self) -> None:
        await self._engine.dispose()

    async def add(self, task: RouterTask, *, release_before: float | None = None) -> None:
        """Record `task`; with a key, first forget the keys recorded before `release_before` (past the TTL).

        `KeyHeld` when another row holds the task's key (another request recorded the delivery first).
        """
        try:
            async with self._engine.begin() as connection:
                if task.dedup_key is not None and release_before is not None:
                    await connection.execute(
                        update(TABLE)
                        .where(TABLE.c.dedup_key == task.dedup_key, TABLE.c.created_at < release_before)
                        .values(dedup_key=None)
                    )
                await connection.execute(insert(TABLE).values(**_values(task)))
        except IntegrityError:
            if task.dedup_key is None:
                raise
            holder = await self.holder(task.dedup_key)
            if holder is None:  # released between the insert and this read: the caller tries again
                raise
            raise KeyHeld(holder) from None

    async def get(self, task_id: str, owner: str) -> RouterTask | None:
        """The task `task_id` if `owner` started it; None otherwise (another owner's task is not revealed)."""
        rows = await self._select(TABLE.c.id == task_id, TABLE.c.owner == owner)
        return rows[0] if rows else None

    async def by_id(self, task_id: str) -> RouterTask | None:
        rows = await self._select(TABLE.c.id == task_id)
        return rows[0] if rows else None

    async def pending_count(self) -> int:
        """How many deliveries wait to be sent, every replica's (the webhooks' backlog, `agents.router.backlog`)."""
        async with self._engine.connect() as connection:
            pending = select(func.count()).select_from(TABLE).where(TABLE.c.delivery == PENDING)
            result = await connection.execute(pending)
            return int(result.scalar_one())

    async def holder(self, key: str, since: float | None = None) -> RouterTask | None:
        """The row holding the de-duplication key `key` (recorded at `since` or later), if any."""
        conditions = [TABLE.c.dedup_key == key] + ([TABLE.c.created_at >= since] if since is not None else [])
        rows = await self._select(*conditions)
        return rows[0] if rows else None

    async def claim(
        self,
        replica: str,
        *,
        limit: int,
        lease_seconds: float,
        alerts: bool | None = None,
        early_seconds: float = 0.0,
    ) -> list[RouterTask]:
        """Claim up to `limit` claimable pending rows for `replica`, oldest first: alert deliveries only (`alerts`
        True), all the others (False) or any (None). With `early_seconds`, rows never claimed before that fall due
        within that long are claimable too (the rest of a burst whose first row fell due; never a deferred retry)."""
        now = self.clock()
        due = or_(TABLE.c.due_at.is_(None), TABLE.c.due_at <= now)
        if early_seconds > 0:
            due = or_(due, and_(func.coalesce(TABLE.c.attempts, 0) == 0, TABLE.c.due_at <= now + early_seconds))
        claimable = [
            TABLE.c.delivery == PENDING,
            or_(TABLE.c.lease_until.is_(None), TABLE.c.lease_until < now),
            due,
        ]
        if alerts is not None:
            claimable.append((TABLE.c.trigger_kind == ALERT) if alerts else (TABLE.c.trigger_kind != ALERT))
        chosen = (
            select(TABLE.c.id)
            .where(*claimable)
            .order_by(TABLE.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's BEGIN IMMEDIATE serialises instead
        )
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(TABLE)
                .where(TABLE.c.id.in_(chosen.scalar_subquery()))
                .values(
                    claimed_by=replica,
                    lease_until=now + lease_seconds,
                    attempts=func.coalesce(TABLE.c.attempts, 0) + 1,
                )
                .returning(*TABLE.columns)
            )
            claimed = [_task(row) for row in result.mappings()]
        return sorted(claimed, key=lambda task: task.created_at)

    async def renew(self, task_ids: Sequence[str], replica: str, lease_seconds: float) -> set[str]:
        """Extend `replica`'s leases on `task_ids`; the ids it still holds."""
        if not task_ids:
            return set()
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(TABLE)
                .where(_held(replica), TABLE.c.id.in_(list(task_ids)))
                .values(lease_until=self.clock() + lease_seconds)
                .returning(TABLE.c.id)
            )
            return {row[0] for row in result}

    async def release(self, task_ids: Sequence[str], replica: str) -> None:
        """Give back claims that were not used (nothing was sent): claimable again at once, the claim uncounted."""
        if task_ids:
            await self._update(
                and_(_held(replica), TABLE.c.id.in_(list(task_ids))),
                lease_until=None,
                attempts=func.coalesce(TABLE.c.attempts, 1) - 1,
            )

    async def defer(self, task_id: str, replica: str, until: float) -> bool:
        """Give back the claim of `task_id` to be tried again at `until` (by any replica); whether it was held."""
        return await self._update(and_(_held(replica), TABLE.c.id == task_id), lease_until=None, due_at=until)

    async def mark_started(
        self, task_id: str, agent_url: str, a2a_task_id: str, a2a_context_id: str, *, replica: str | None = None
    ) -> bool:
        """The pending delivery `task_id` was taken: its agent runs it as `a2a_task_id`. The rows grouped into it
        carry the same ids. Whether it was still pending (and held by `replica`, when given)."""
        values = {"agent_url": agent_url, "a2a_task_id": a2a_task_id, "a2a_context_id": a2a_context_id}
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(TABLE)
                .where(_settleable(task_id, replica))
                .values(delivery=STARTED, payload=None, lease_until=None, **values)
            )
            if not result.rowcount:
                return False
            await connection.execute(
                update(TABLE).where(TABLE.c.grouped_into == task_id, TABLE.c.delivery == GROUPED).values(**values)
            )
        return True

    async def mark_failed(self, task_id: str, reason: str, *, replica: str | None = None) -> bool:
        """The pending delivery `task_id` was given up for `reason` (its payload is kept for the record), and the
        rows grouped into it with it. Whether it was still pending (and held by `replica`, when given)."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(TABLE).where(_settleable(task_id, replica)).values(delivery=FAILED, failure=reason)
            )
            if not result.rowcount:
                return False
            await connection.execute(
                update(TABLE)
                .where(TABLE.c.grouped_into == task_id, TABLE.c.delivery == GROUPED)
                .values(delivery=FAILED, failure=f"It was grouped into router task {task_id}, which failed: {reason}")
            )
        return True

    async def mark_grouped(
        self, task_ids: Sequence[str], lead_id: str, replica: str, *, lead_payload: str | None = None
    ) -> int:
        """`task_ids` (claimed by `replica`) are answered by `lead_id`'s investigation, which is sent with
        `lead_payload` when given (their alerts merged into its own); how many were marked.

        The lead may be another replica's, or started already (a late page joining it): a started lead's A2A ids
        are copied to the rows at once, a pending one's are when it starts (`mark_started`). None is marked (0)
        when the lead is neither pending nor started (it failed or was grouped itself meanwhile)."""
        if not task_ids:
            return 0
        async with self._engine.begin() as connection:
            # The lead's row is locked first, as `mark_started` and `mark_failed` update it before its members: one
            # settling it concurrently either sees the members marked here or is seen settled here.
            lead = (
                (await connection.execute(select(TABLE).where(TABLE.c.id == lead_id).with_for_update()))
                .mappings()
                .first()
            )
            if lead is None or lead["delivery"] not in (PENDING, STARTED):
                return 0
            ids = {name: lead[name] for name in ("agent_url", "a2a_task_id", "a2a_context_id")}
            result = await connection.execute(
                update(TABLE)
                .where(_held(replica), TABLE.c.id.in_(list(task_ids)))
                .values(
                    delivery=GROUPED, grouped_into=lead_id, lease_until=None, **(ids if lead["a2a_task_id"] else {})
                )
            )
            if lead_payload is not None:
                await connection.execute(
                    update(TABLE).where(_held(replica), TABLE.c.id == lead_id).values(payload=lead_payload)
                )
        return int(result.rowcount)

    async def take_root(self, lead: RouterTask, root: str, *, since: float, ended: Collection[str] = ()) -> str:
        """Record `lead` as the lead of `root` for its owner and agent, unless a lead taken at `since` or later
        holds it and is not among `ended` (leads known to have ended); the id of the lead that holds it now."""
        key = and_(GROUP_LEADS.c.owner == lead.owner, GROUP_LEADS.c.agent == lead.agent, GROUP_LEADS.c.root == root)
        for _ in range(_KEY_TRIES):
            try:
                async with self._engine.begin() as connection:
                    held = (
                        await connection.execute(
                            select(GROUP_LEADS.c.lead_id, GROUP_LEADS.c.taken_at).where(key).with_for_update()
                        )
                    ).first()
                    if held is None:
                        await connection.execute(
                            insert(GROUP_LEADS).values(
                                owner=lead.owner, agent=lead.agent, root=root, lead_id=lead.id, taken_at=self.clock()
                            )
                        )
                        return lead.id
                    if held.lead_id != lead.id and held.taken_at >= since and held.lead_id not in ended:
                        return str(held.lead_id)
                    await connection.execute(
                        update(GROUP_LEADS).where(key).values(lead_id=lead.id, taken_at=self.clock())
                    )
                    return lead.id
            except IntegrityError:
                continue  # another replica inserted the root's first row meanwhile: read it
        raise SreError(f"the lead of {root} changed hands {_KEY_TRIES} times while it was recorded")

    async def leads_of(self, roots: Collection[str], *, since: float) -> list[tuple[str, RouterTask]]:
        """The leads (with their root) of `roots` taken at `since` or later, every owner's and agent's."""
        if not roots:
            return []
        async with self._engine.connect() as connection:
            result = await connection.execute(
                select(GROUP_LEADS.c.root, TABLE)
                .join(TABLE, TABLE.c.id == GROUP_LEADS.c.lead_id)
                .where(GROUP_LEADS.c.root.in_(sorted(roots)), GROUP_LEADS.c.taken_at >= since)
            )
            return [(row["root"], _task(row)) for row in result.mappings()]

    async def retire(self, task: RouterTask) -> bool:
        """Forget the de-duplication key of `task` (it ended without a result); whether it still held it."""
        if task.dedup_key is None:
            return False
        return await self._update(and_(TABLE.c.id == task.id, TABLE.c.dedup_key == task.dedup_key), dedup_key=None)

    async def release_group(self, group: str) -> int:
        """Forget the de-duplication keys of `group`'s tasks (it resolved); how many there were."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(TABLE)
                .where(and_(TABLE.c.dedup_group == group, TABLE.c.dedup_key.is_not(None)))
                .values(dedup_key=None)
            )
        return int(result.rowcount)

    async def _update(self, condition: ColumnElement[bool], **values: Any) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(update(TABLE).where(condition).values(**values))
        return bool(result.rowcount)

    async def _select(self, *conditions: ColumnElement[bool]) -> list[RouterTask]:
        async with self._engine.connect() as connection:
            result = await connection.execute(select(TABLE).where(*conditions).order_by(TABLE.c.created_at))
            return [_task(row) for row in result.mappings()]


def _held(replica: str) -> ColumnElement[bool]:
    return and_(TABLE.c.delivery == PENDING, TABLE.c.claimed_by == replica)


def _settleable(task_id: str, replica: str | None) -> ColumnElement[bool]:
    return and_(TABLE.c.id == task_id, _held(replica) if replica is not None else TABLE.c.delivery == PENDING)


def _migrate(connection: Connection) -> None:
    """Bring a table of an earlier version up to this one (the module doc's Migrations)."""
    existing = {column["name"] for column in inspect(connection).get_columns(TABLE.name)}
    for name, sql_type in _ADDED_COLUMNS.items():
        if name not in existing:
            # The names and types are this module's constants, not input.
            connection.execute(text(f"ALTER TABLE {TABLE.name} ADD COLUMN {name} {sql_type}"))
            logger.info("Added the %s column to the router's %s table", name, TABLE.name)
    indexes = {index["name"] for index in inspect(connection).get_indexes(TABLE.name)}
    if UNIQUE_KEY.name not in indexes:
        newer = TABLE.alias("newer")
        duplicated = connection.execute(
            update(TABLE)
            .where(
                TABLE.c.dedup_key.is_not(None),
                exists().where(
                    newer.c.dedup_key == TABLE.c.dedup_key,
                    or_(
                        newer.c.created_at > TABLE.c.created_at,
                        and_(newer.c.created_at == TABLE.c.created_at, newer.c.id > TABLE.c.id),
                    ),
                ),
            )
            .values(dedup_key=None)
        )
        if duplicated.rowcount:
            logger.info("Released %d older duplicate de-duplication key(s) before indexing them", duplicated.rowcount)
        UNIQUE_KEY.create(connection)
    if _OLD_KEY_INDEX in indexes:
        connection.execute(text(f"DROP INDEX {_OLD_KEY_INDEX}"))
    if BY_DELIVERY.name not in indexes:
        BY_DELIVERY.create(connection)


def _values(task: RouterTask) -> dict[str, Any]:
    return {field.name: getattr(task, field.name) for field in fields(task)}


def _task(row: RowMapping) -> RouterTask:
    values = {column.name: row[column.name] for column in TABLE.columns}
    return RouterTask(**{**values, "attempts": values["attempts"] or 0})
