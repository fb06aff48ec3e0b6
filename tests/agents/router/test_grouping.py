"""Related alerts delivered together are one investigation of the service the others depend on.

The rule (`group_deliveries`) is checked on made-up graphs without I/O; the look-up path (`Grouper.plan`)
against a real control plane and a real controlplane-mcp, the services and their dependencies created
through the control plane's API, called over Streamable HTTP with the router's own token.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from a2a.types import Task, TaskState, TaskStatus
from pydantic import SecretStr
from support.backends import free_port
from support.controlplane_mcp_harness import READ, Seeder, serve_controlplane, serve_mcp, session
from support.issuer import TestIssuer
from support.postgres import PostgresProcess
from support.served import ServedComponent

from agents.router.delivery import Deliverer
from agents.router.grouping import DeliveryGroup, Grouper, Ongoing, Subject, group_deliveries, subject_of_delivery
from agents.router.settings import RouterSettings
from agents.router.tasks import GROUPED, PENDING, RouterTask, TaskRecords
from common.auth import ClientCredentials, TokenSource
from common.contracts.calls import ToolCaller
from common.errors import ConfigError
from common.investigation.identity import LabelAliases
from common.mcp.toolbox import Toolbox, mcp_toolbox
from common.settings import SettingsSource

SERVER = "controlplane-mcp"


def delivery(
    task_id: str,
    *labels: Mapping[str, str],
    at: float = 0.0,
    owner: str = "webhook-basic",
    kind: str = "alert",
) -> RouterTask:
    """A pending Alertmanager delivery whose firing alerts carry `labels`, recorded at `at`."""
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", **own},
            "startsAt": f"2026-12-05T12:{index:02d}:00Z",
            "fingerprint": f"{task_id}-{index}",
        }
        for index, own in enumerate(labels)
    ]
    payload = {"version": "4", "groupKey": task_id, "status": "firing", "receiver": "router", "alerts": alerts}
    return RouterTask(
        id=task_id,
        owner=owner,
        agent="triage",
        agent_url="",
        a2a_task_id="",
        a2a_context_id="",
        trigger_kind=kind,
        trigger_summary=f"HighErrorRate firing ({task_id})",
        created_at=at,
        delivery=PENDING,
        payload=json.dumps(payload),
    )


def shapes(groups: Sequence[DeliveryGroup]) -> list[tuple[str, list[str]]]:
    return [(group.lead.id, [member.id for member in group.members]) for group in groups]


def assert_partition(groups: Sequence[DeliveryGroup], deliveries: Sequence[RouterTask]) -> None:
    planned = [task.id for group in groups for task in group.tasks]
    assert sorted(planned) == sorted(task.id for task in deliveries)


# The rule, on made-up graphs.


def test_thirty_callers_of_a_failing_database_are_one_investigation_of_the_database() -> None:
    callers = [f"prod/api-{n:02d}" for n in range(30)]
    graph = {caller: {"prod/orders-db"} for caller in callers}
    deliveries = [delivery(f"t-{caller[5:]}", at=n) for n, caller in enumerate(callers)]
    # The database's own alert is not the first to arrive.
    deliveries.insert(7, delivery("t-db", at=6.5))
    resources = {f"t-{caller[5:]}": caller for caller in callers} | {"t-db": "prod/orders-db"}

    groups = group_deliveries(deliveries, resources, graph)

    assert len(groups) == 1
    assert groups[0].lead.id == "t-db"
    assert len(groups[0].members) == 30
    assert "depend on prod/orders-db" in groups[0].reason
    assert_partition(groups, deliveries)


def test_two_independent_outages_in_one_batch_are_two_investigations() -> None:
    graph = {
        "prod/cart": {"prod/sessions-cache"},
        "prod/login": {"prod/sessions-cache"},
        "prod/billing": {"prod/ledger-db"},
        "prod/invoices": {"prod/ledger-db"},
        "prod/payouts": {"prod/ledger-db"},
    }
    resources = {
        "cart": "prod/cart",
        "billing": "prod/billing",
        "cache": "prod/sessions-cache",
        "login": "prod/login",
        "db": "prod/ledger-db",
        "invoices": "prod/invoices",
        "payouts": "prod/payouts",
    }
    deliveries = [delivery(task_id, at=n) for n, task_id in enumerate(resources)]

    groups = group_deliveries(deliveries, resources, graph)

    assert shapes(groups) == [("cache", ["cart", "login"]), ("db", ["billing", "invoices", "payouts"])]


def test_a_diamond_is_grouped_under_its_bottom_and_split_when_its_sides_are_the_roots() -> None:
    # web calls search and recommend, both of which call catalog-db.
    graph = {
        "prod/web": {"prod/search", "prod/recommend"},
        "prod/search": {"prod/catalog-db"},
        "prod/recommend": {"prod/catalog-db"},
    }
    everyone = {"web": "prod/web", "search": "prod/search", "recommend": "prod/recommend", "db": "prod/catalog-db"}
    deliveries = [delivery(task_id, at=n) for n, task_id in enumerate(everyone)]
    assert shapes(group_deliveries(deliveries, everyone, graph)) == [("db", ["web", "search", "recommend"])]

    # catalog-db is quiet: search and recommend are two roots, and web, which reaches both, stays alone.
    sides = {key: value for key, value in everyone.items() if key != "db"}
    deliveries = deliveries[:3]
    groups = group_deliveries(deliveries, sides, graph)
    assert shapes(groups) == [("web", []), ("search", []), ("recommend", [])]
    assert all(group.reason == "" for group in groups)


def test_a_cycle_has_no_root_and_each_service_stays_alone_unless_it_reaches_a_root_below() -> None:
    graph = {"prod/a": {"prod/b"}, "prod/b": {"prod/a"}, "prod/c": {"prod/a"}}
    resources = {"a": "prod/a", "b": "prod/b", "c": "prod/c"}
    deliveries = [delivery(task_id, at=n) for n, task_id in enumerate(resources)]
    assert shapes(group_deliveries(deliveries, resources, graph)) == [("a", []), ("b", []), ("c", [])]

    # The cycle calls a database that alerts: both sides of it, and c above them, are about the database.
    graph = {**graph, "prod/b": {"prod/a", "prod/db"}}
    resources = {**resources, "db": "prod/db"}
    deliveries = [*deliveries, delivery("db", at=9)]
    assert shapes(group_deliveries(deliveries, resources, graph)) == [("db", ["a", "b", "c"])]


def test_unknown_services_and_other_deliveries_stay_alone_beside_a_group() -> None:
    graph = {"prod/checkout": {"prod/payments"}}
    deliveries = [
        delivery("checkout", at=1),
        delivery("mystery", at=2),  # the control plane does not know its service
        delivery("deploy", at=3, kind="deployment"),
        delivery("payments", at=4),
    ]
    resources = {"checkout": "prod/checkout", "payments": "prod/payments"}

    groups = group_deliveries(deliveries, resources, graph)

    assert shapes(groups) == [("mystery", []), ("deploy", []), ("payments", ["checkout"])]


def test_a_service_alerting_twice_is_led_by_its_earliest_delivery() -> None:
    graph = {"prod/checkout": {"prod/payments"}}
    deliveries = [delivery("payments-late", at=5), delivery("checkout", at=1), delivery("payments-early", at=2)]
    resources = {"payments-late": "prod/payments", "checkout": "prod/checkout", "payments-early": "prod/payments"}

    groups = group_deliveries(deliveries, resources, graph)

    assert shapes(groups) == [("payments-early", ["checkout", "payments-late"])]
    assert "alerted 2 times" in groups[0].reason
    # Alone, a service alerting twice is one investigation too.
    alone = group_deliveries([deliveries[0], deliveries[2]], resources, {})
    assert shapes(alone) == [("payments-early", ["payments-late"])]


def test_dependencies_further_than_the_depth_bound_do_not_group() -> None:
    chain = {"prod/a": {"prod/b"}, "prod/b": {"prod/c"}, "prod/c": {"prod/d"}, "prod/d": {"prod/e"}}
    resources = {"a": "prod/a", "e": "prod/e"}
    deliveries = [delivery("a", at=1), delivery("e", at=2)]
    assert shapes(group_deliveries(deliveries, resources, chain, max_depth=3)) == [("a", []), ("e", [])]
    assert shapes(group_deliveries(deliveries, resources, chain, max_depth=4)) == [("e", ["a"])]


def test_deliveries_of_different_owners_are_never_grouped() -> None:
    graph = {"prod/checkout": {"prod/payments"}}
    deliveries = [delivery("checkout", at=1, owner="team-a"), delivery("payments", at=2, owner="team-b")]
    resources = {"checkout": "prod/checkout", "payments": "prod/payments"}
    assert shapes(group_deliveries(deliveries, resources, graph)) == [("checkout", []), ("payments", [])]


def alerted(group: DeliveryGroup) -> list[str]:
    """The services the alerts of the webhook sent for the group's lead name (its own when not merged)."""
    webhook = json.loads(group.payload or group.lead.payload or "{}")
    return [alert["labels"]["service"] for alert in webhook["alerts"]]


def test_the_lead_is_sent_with_its_direct_callers_alerts_so_triage_sees_the_outage() -> None:
    # checkout and cart call payments-db; web calls checkout (two hops from the database).
    graph = {
        "prod/checkout": {"prod/payments-db"},
        "prod/cart": {"prod/payments-db"},
        "prod/web": {"prod/checkout"},
    }
    services = ["checkout", "web", "payments-db", "cart"]
    deliveries = [
        delivery(name, {"service": name, "namespace": "prod", "team": name}, at=n) for n, name in enumerate(services)
    ]
    deliveries.append(delivery("payments-db-again", {"service": "payments-db", "namespace": "prod"}, at=9))
    resources = {task.id: f"prod/{task.id.removesuffix('-again')}" for task in deliveries}

    (group,) = group_deliveries(deliveries, resources, graph)

    assert group.lead.id == "payments-db"
    assert alerted(group) == ["payments-db", "checkout", "cart", "payments-db"]
    webhook = json.loads(group.payload or "")
    assert webhook["groupKey"] == "payments-db"
    assert webhook["status"] == "firing"
    # Common labels are those all the merged alerts share, as Alertmanager computes them.
    assert webhook["commonLabels"] == {"alertname": "HighErrorRate", "namespace": "prod"}
    assert len({alert["fingerprint"] for alert in webhook["alerts"]}) == 4


def test_a_merged_webhook_names_at_most_eight_services_and_a_lone_lead_is_sent_as_it_came() -> None:
    callers = [f"api-{n:02d}" for n in range(30)]
    graph = {f"prod/{name}": {"prod/orders-db"} for name in callers}
    deliveries = [delivery("orders-db", {"service": "orders-db"}, at=0)]
    deliveries += [delivery(name, {"service": name}, at=n + 1) for n, name in enumerate(callers)]
    resources = {task.id: f"prod/{task.id}" for task in deliveries}

    (group,) = group_deliveries(deliveries, resources, graph)

    assert alerted(group) == ["orders-db", *callers[:7]]
    (alone,) = group_deliveries(deliveries[:1], resources, graph)
    assert alone.payload is None


# A delivery's subject, read as triage reads it, in the label shapes of real clusters.


@pytest.mark.parametrize(
    ("labels", "subject"),
    [
        ({"service": "checkout", "namespace": "prod"}, ("checkout", "prod")),
        # kube-prometheus-stack: a pod of a Deployment, no service label.
        ({"namespace": "prod", "pod": "checkout-7d9f8b6c5-x2x4z", "container": "app"}, ("checkout", "prod")),
        # OpenTelemetry: service_name, the namespace from the k8sattributes processor.
        ({"service_name": "checkout", "k8s_namespace_name": "prod"}, ("checkout", "prod")),
        # Istio: the workload called.
        (
            {"destination_workload": "payments", "destination_workload_namespace": "prod", "source_workload": "web"},
            ("payments", "prod"),
        ),
    ],
)
def test_a_deliverys_subject_is_read_from_its_alerts_labels(labels: dict[str, str], subject: tuple[str, str]) -> None:
    found = subject_of_delivery(delivery("t", labels), LabelAliases())
    assert found is not None
    assert (found.name, found.namespace) == subject


def test_a_delivery_names_its_earliest_firing_alerts_subject_and_none_for_other_kinds() -> None:
    task = delivery("t", {"service": "checkout"}, {"service": "payments"})
    assert subject_of_delivery(task, LabelAliases()) == Subject("checkout")
    assert subject_of_delivery(delivery("d", {"service": "x"}, kind="deployment"), LabelAliases()) is None
    unreadable = RouterTask(**{**task.__dict__, "payload": "{not json"})
    assert subject_of_delivery(unreadable, LabelAliases()) is None
    nameless = delivery("n", {"severity": "page"})
    assert subject_of_delivery(nameless, LabelAliases()) is None


# The look-up path, against a real control plane and controlplane-mcp.


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def controlplane(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedComponent]:
    with serve_controlplane(issuer, tmp_path_factory, approval_ttl=60) as component:
        seeder = Seeder(component.url, issuer)
        # orders-db <- orders-api <- checkout, storefront (through the gateway, which is quiet); search stands apart.
        seeder.resource("orders-db", kind="database", version="15.4")
        seeder.resource("orders-api", dependencies=["orders-db"])
        seeder.resource("gateway", dependencies=["orders-api"])
        seeder.resource("checkout", dependencies=["orders-api"], labels={"app.kubernetes.io/name": "checkout"})
        seeder.resource("storefront", dependencies=["gateway"])
        seeder.resource("search")
        yield component


@pytest.fixture(scope="module")
def controlplane_mcp(
    controlplane: ServedComponent, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedComponent]:
    with serve_mcp(controlplane, issuer, tmp_path_factory) as component:
        yield component


class Counting:
    """The router's toolbox, counting the tools it calls (the look-ups a plan spent)."""

    def __init__(self, toolbox: Toolbox) -> None:
        self.toolbox = toolbox
        self.calls: list[str] = []

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        self.calls.append(str(arguments.get("query")))
        return await self.toolbox.call(server, tool, arguments)


def router_session(
    served: ServedComponent, issuer: TestIssuer, calls: list[str] | None = None
) -> Callable[[], AbstractAsyncContextManager[ToolCaller]]:
    """A session on controlplane-mcp with a token of the router's own (audience controlplane-mcp, controlplane:read)."""

    @asynccontextmanager
    async def open_session() -> AsyncIterator[ToolCaller]:
        async with session(served, issuer, client_id="router", scopes=(READ,)) as client:
            counting = Counting(Toolbox({SERVER: client}, {}, 10.0))
            yield counting
            if calls is not None:
                calls.extend(counting.calls)

    return open_session


def outage() -> list[RouterTask]:
    """One outage as a cluster pages it, in several label shapes, and an unrelated alert."""
    return [
        delivery("checkout", {"namespace": "prod", "pod": "checkout-7d9f8b6c5-x2x4z"}, at=1),
        delivery("storefront", {"service_name": "storefront", "k8s_namespace_name": "prod"}, at=2),
        delivery("search", {"service": "search", "namespace": "prod"}, at=3),
        delivery("orders-api", {"job": "prod/orders-api", "namespace": "prod"}, at=4),
        delivery("orders-db", {"job": "postgres-exporter", "server": "orders-db.prod.svc:5432"}, at=5),
        delivery("rollout", {"service": "checkout"}, at=6, kind="deployment"),
    ]


@pytest.mark.anyio
@pytest.mark.integration
async def test_a_batch_is_planned_from_the_control_planes_graph_and_led_by_the_depended_on_service(
    controlplane_mcp: ServedComponent, issuer: TestIssuer
) -> None:
    calls: list[str] = []
    now = [0.0]
    grouper = Grouper(router_session(controlplane_mcp, issuer, calls), cache_seconds=60, clock=lambda: now[0])
    deliveries = outage()

    groups = await grouper.plan(deliveries)

    assert shapes(groups) == [
        ("search", []),
        ("orders-db", ["checkout", "storefront", "orders-api"]),
        ("rollout", []),
    ]
    # orders-api calls orders-db directly: its alert goes with the database's to triage; checkout and storefront
    # call it through others, which triage would not see as depending on it.
    merged = json.loads(groups[1].payload or "")
    assert [alert["fingerprint"] for alert in merged["alerts"]] == ["orders-db-0", "orders-api-0"]
    # The five subjects, then the quiet gateway between storefront and orders-api (found as a dependent of
    # orders-api and a dependency of storefront, it is looked up to follow its own dependencies).
    assert sorted(calls) == ["checkout", "gateway", "orders-api", "orders-db", "search", "storefront"]
    assert grouper.unavailable is None

    # The graph is kept for a while: the next batch of the storm asks the control plane nothing.
    again = await grouper.plan(list(reversed(deliveries)))
    assert shapes(again) == [("rollout", []), ("orders-db", ["checkout", "storefront", "orders-api"]), ("search", [])]
    assert len(calls) == 6
    # A minute on, a deployment may have changed the graph: it is read again.
    now[0] = 61.0
    await grouper.plan(deliveries)
    assert len(calls) == 12


@pytest.mark.anyio
@pytest.mark.integration
async def test_a_plan_looks_up_no_more_than_its_bound_and_still_places_every_delivery(
    controlplane_mcp: ServedComponent, issuer: TestIssuer
) -> None:
    calls: list[str] = []
    grouper = Grouper(router_session(controlplane_mcp, issuer, calls), max_lookups=3, concurrency=2)
    deliveries = outage()

    groups = await grouper.plan(deliveries)

    assert len(calls) == 3
    assert_partition(groups, deliveries)


@asynccontextmanager
async def unreachable() -> AsyncIterator[ToolCaller]:
    """The router's toolbox as `mcp_toolbox` opens it when controlplane-mcp and the authorization server are
    down (nothing listens where they were)."""
    gone = f"http://127.0.0.1:{free_port()}"
    credentials = ClientCredentials(
        token_url=f"{gone}/oauth/token", client_id="router", client_secret=SecretStr("router-secret")
    )
    async with (
        httpx.AsyncClient(timeout=5) as http,
        mcp_toolbox(
            [SERVER], tokens=TokenSource(credentials, http), http=http, registry_url=gone, urls={SERVER: f"{gone}/mcp"}
        ) as toolbox,
    ):
        yield toolbox


async def plans_alone_warning_once(grouper: Grouper, caplog: pytest.LogCaptureFixture) -> str:
    """Plan the outage twice: every delivery alone both times, and one warning (its text) for both."""
    deliveries = outage()
    with caplog.at_level(logging.WARNING, logger="agents.router.grouping"):
        first = await grouper.plan(deliveries)
        second = await grouper.plan(deliveries)
    for groups in (first, second):
        assert shapes(groups) == [(task.id, []) for task in deliveries]
    assert grouper.unavailable is not None
    (warning,) = [r for r in caplog.records if r.name == "agents.router.grouping"]
    assert "not grouped" in warning.getMessage()
    return warning.getMessage()


@pytest.mark.anyio
@pytest.mark.integration
async def test_without_the_control_plane_nothing_is_grouped_and_the_outage_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warning = await plans_alone_warning_once(Grouper(unreachable), caplog)
    assert "controlplane-mcp is unavailable" in warning


@pytest.mark.anyio
@pytest.mark.integration
async def test_a_router_client_without_controlplane_read_groups_nothing_and_says_so(
    controlplane_mcp: ServedComponent, issuer: TestIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    @asynccontextmanager
    async def unentitled() -> AsyncIterator[ToolCaller]:
        # A router client provisioned before grouping: agents:invoke only.
        async with session(controlplane_mcp, issuer, client_id="router", scopes=("agents:invoke",)) as client:
            yield Toolbox({SERVER: client}, {}, 10.0)

    warning = await plans_alone_warning_once(Grouper(unentitled), caplog)
    assert "needs controlplane:read" in warning
    # It says what fixes it: sre up's next start, or the command for a client registered by hand.
    assert "`sre up` grants it when it starts again" in warning
    assert (
        "sre auth add-client <SRE_CLIENT_ID> --rotate-secret --scopes registry:write,agents:invoke,controlplane:read"
        in warning
    )


class Stalling:
    """The router's session, the look-ups of `stalled` names never answered (a control plane that stopped
    answering them)."""

    def __init__(self, toolbox: ToolCaller, stalled: set[str]) -> None:
        self.toolbox = toolbox
        self.stalled = stalled

    async def call(self, server: str, tool: str, arguments: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        if arguments.get("query") in self.stalled:
            await anyio.sleep_forever()
        return await self.toolbox.call(server, tool, arguments, **options)


@pytest.mark.anyio
@pytest.mark.integration
@pytest.mark.parametrize(
    ("stalled", "planned"),
    [
        # search's look-up never answers: the outage is grouped by what was read, search goes alone.
        ({"search"}, [("search", []), ("orders-db", ["checkout", "storefront", "orders-api"]), ("rollout", [])]),
        # Nothing answers: every delivery alone.
        (
            {"checkout", "storefront", "search", "orders-api", "orders-db"},
            [(task.id, []) for task in outage()],
        ),
    ],
)
async def test_subjects_not_read_within_the_deadline_are_alone_and_the_rest_is_grouped(
    controlplane_mcp: ServedComponent,
    issuer: TestIssuer,
    caplog: pytest.LogCaptureFixture,
    stalled: set[str],
    planned: list[tuple[str, list[str]]],
) -> None:
    opened = router_session(controlplane_mcp, issuer)

    @asynccontextmanager
    async def stalling() -> AsyncIterator[ToolCaller]:
        async with opened() as toolbox:
            yield Stalling(toolbox, stalled)

    grouper = Grouper(stalling, deadline_seconds=2.0)
    with caplog.at_level(logging.INFO, logger="agents.router.grouping"), anyio.fail_after(10):
        groups = await grouper.plan(outage())

    assert shapes(groups) == planned
    assert grouper.unavailable is None
    assert f"{len(stalled)} of 5 subjects were not read" in caplog.text


# Late pages: a page planned after its outage's investigation started joins it (agents.router.delivery), the
# deliverer's rows in a real task store, the graph read from the real controlplane-mcp, triage a stand-in that
# records what it is sent and reports its tasks in the state the test gives them.


class Triage:
    """`Peers` for the deliverer: every start creates a task (`a2a-<n>`), reported in `states[task id]` (working
    unless said), ended at `ended_at` (epoch seconds) when given."""

    registry_url = "http://registry.test"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.states: dict[str, TaskState] = {}
        self.ended_at: dict[str, float] = {}

    async def start(
        self, name: str, url: str, payload: dict[str, Any], *, seconds: float | None = None, context_id: str | None
    ) -> Task:
        self.sent.append(payload)
        return Task(id=f"a2a-{len(self.sent)}", context_id=context_id or "")

    async def tasks_in_context(self, name: str, url: str, context_id: str) -> list[Task]:
        return []

    async def task(self, name: str, url: str, task_id: str) -> Task | None:
        status = TaskStatus(state=self.states.get(task_id, TaskState.TASK_STATE_WORKING))
        if task_id in self.ended_at:
            status.timestamp.FromDatetime(datetime.fromtimestamp(self.ended_at[task_id], UTC))
        return Task(id=task_id, status=status)

    def services(self, index: int) -> list[str]:
        """The services the alerts of the `index`-th investigation started name."""
        return [alert["labels"].get("service") or alert["labels"].get("job") for alert in self.sent[index]["alerts"]]


GROUP_WAIT = 5.0


async def resolve(agent: str) -> str:
    return f"http://{agent}.test"


def replica(
    records: TaskRecords, triage: Triage, planner: Grouper, name: str = "replica-a", *, join_seconds: float = 600.0
) -> Deliverer:
    return Deliverer(
        triage,  # type: ignore[arg-type]
        records,
        resolve,
        timeout=30.0,
        max_age=600.0,
        concurrency=8,
        lease_seconds=30.0,
        poll_seconds=60.0,
        replica=name,
        planner=planner,
        join_seconds=join_seconds,
        group_wait=GROUP_WAIT,
    )


async def send_due(sender: Deliverer) -> list[str]:
    """Claim and plan what is due, send the leads; the router tasks sent."""
    leads = await sender._claim()
    for lead in leads:
        await sender.deliver(lead)
    return [lead.id for lead in leads]


async def record(records: TaskRecords, *tasks: RouterTask) -> None:
    for task in tasks:
        await records.add(replace(task, created_at=records.clock()))


def page(task_id: str, labels: Mapping[str, str]) -> RouterTask:
    return delivery(task_id, {"namespace": "prod", **labels})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TaskRecords]:
    records = TaskRecords(f"sqlite+aiosqlite:///{tmp_path / 'router-tasks.db'}")
    await records.start()
    yield records
    await records.close()


async def state_of(records: TaskRecords, task_id: str) -> tuple[str | None, str | None, str]:
    row = await records.by_id(task_id)
    assert row is not None
    return row.delivery, row.grouped_into, row.a2a_task_id


@pytest.mark.anyio
@pytest.mark.integration
async def test_a_page_planned_after_its_outages_investigation_started_joins_it(
    controlplane_mcp: ServedComponent, issuer: TestIssuer, store: TaskRecords
) -> None:
    triage = Triage()
    sender = replica(store, triage, Grouper(router_session(controlplane_mcp, issuer)))
    await record(store, page("db", {"service": "orders-db"}), page("checkout", {"service": "checkout"}))
    assert await send_due(sender) == ["db"]
    assert triage.services(0) == ["orders-db"]  # checkout calls orders-api, not the database: not merged

    # Later pages of the outage: storefront (three hops above the database) and the database alerting again.
    await record(store, page("storefront", {"service_name": "storefront"}), page("db-again", {"service": "orders-db"}))
    assert await send_due(sender) == []

    assert len(triage.sent) == 1
    for late in ("checkout", "storefront", "db-again"):
        assert await state_of(store, late) == (GROUPED, "db", "a2a-1")
    # An unrelated page still gets its own investigation.
    await record(store, page("search", {"service": "search"}))
    assert await send_due(sender) == ["search"]


@pytest.mark.anyio
@pytest.mark.integration
async def test_the_pages_of_a_burst_are_planned_with_the_first_that_falls_due(
    controlplane_mcp: ServedComponent, issuer: TestIssuer, store: TaskRecords
) -> None:
    triage = Triage()
    sender = replica(store, triage, Grouper(router_session(controlplane_mcp, issuer)))
    now = store.clock()
    # A caller's page falls due; its database's page came a second later and still waits its group wait.
    await store.add(replace(page("api", {"service": "orders-api"}), created_at=now - GROUP_WAIT, due_at=now))
    await store.add(replace(page("db", {"service": "orders-db"}), created_at=now - 4.0, due_at=now + 1.0))

    assert await send_due(sender) == ["db"]
    assert await state_of(store, "api") == (GROUPED, "db", "a2a-1")
    assert triage.services(0) == ["orders-db", "orders-api"]


@pytest.mark.anyio
@pytest.mark.integration
@pytest.mark.parametrize(
    ("state", "ended_ago", "joins"),
    [
        # Completed within the group wait: the page arrived while it ran, and reads as its report.
        (TaskState.TASK_STATE_COMPLETED, 1.0, True),
        # Completed a minute ago: the outage recurs, and deserves an investigation of its own.
        (TaskState.TASK_STATE_COMPLETED, 60.0, False),
        # Failed: a page is never attached to a failure.
        (TaskState.TASK_STATE_FAILED, 1.0, False),
    ],
    ids=["completed-just-now", "completed-a-minute-ago", "failed"],
)
async def test_a_page_after_its_leads_investigation_ended_starts_a_new_one(
    controlplane_mcp: ServedComponent,
    issuer: TestIssuer,
    store: TaskRecords,
    state: TaskState,
    ended_ago: float,
    joins: bool,
) -> None:
    triage = Triage()
    sender = replica(store, triage, Grouper(router_session(controlplane_mcp, issuer)))
    await record(store, page("db", {"service": "orders-db"}))
    assert await send_due(sender) == ["db"]
    triage.states["a2a-1"] = state
    triage.ended_at["a2a-1"] = store.clock() - ended_ago

    await record(store, page("orders-api", {"service": "orders-api"}), page("db-again", {"service": "orders-db"}))
    sent = await send_due(sender)

    if joins:
        assert sent == []
        assert await state_of(store, "orders-api") == (GROUPED, "db", "a2a-1")
        return
    # The new outage is investigated once, led by the database's new page, with its caller's alert merged in.
    assert sent == ["db-again"]
    assert await state_of(store, "orders-api") == (GROUPED, "db-again", "a2a-2")
    assert triage.services(1) == ["orders-db", "orders-api"]
    # Its lead is now the one later pages join.
    await record(store, page("checkout", {"service": "checkout"}))
    assert await send_due(sender) == []
    assert await state_of(store, "checkout") == (GROUPED, "db-again", "a2a-2")


@pytest.mark.anyio
@pytest.mark.integration
async def test_two_replicas_planning_one_outage_at_once_start_one_investigation(
    controlplane_mcp: ServedComponent, issuer: TestIssuer, postgres: PostgresProcess
) -> None:
    url = postgres.create_database(f"router_{uuid.uuid4().hex[:8]}")
    stores = [TaskRecords(url), TaskRecords(url)]
    for each in stores:
        await each.start()
    try:
        triage = Triage()
        a_planning, b_planned = anyio.Event(), anyio.Event()
        grouper_a = Grouper(router_session(controlplane_mcp, issuer))
        grouper_b = Grouper(router_session(controlplane_mcp, issuer))

        class HeldBack:
            """Replica a's planner: it has claimed its batch and planned it, and goes on once b has planned its own,
            so that neither saw the other's lead when it planned."""

            async def plan(self, deliveries: Sequence[RouterTask], ongoing: Ongoing | None = None) -> Any:
                a_planning.set()
                groups = await grouper_a.plan(deliveries, ongoing)
                await b_planned.wait()
                return groups

        class Planning:
            async def plan(self, deliveries: Sequence[RouterTask], ongoing: Ongoing | None = None) -> Any:
                groups = await grouper_b.plan(deliveries, ongoing)
                b_planned.set()
                return groups

        a = replica(stores[0], triage, HeldBack(), "replica-a")  # type: ignore[arg-type]
        b = replica(stores[1], triage, Planning(), "replica-b")  # type: ignore[arg-type]
        sent: dict[str, list[str]] = {}

        async def run(name: str, sender: Deliverer) -> None:
            sent[name] = await send_due(sender)

        with anyio.fail_after(15):
            async with anyio.create_task_group() as group:
                await record(stores[0], page("db", {"service": "orders-db"}), page("checkout", {"service": "checkout"}))
                group.start_soon(run, "a", a)
                await a_planning.wait()
                await record(stores[1], page("api", {"service": "orders-api"}), page("db-2", {"service": "orders-db"}))
                group.start_soon(run, "b", b)

        # Each replica planned a lead of orders-db; one took the root first, the other's batch joined it.
        (lead,) = sent["a"] + sent["b"]
        assert len(triage.sent) == 1
        for task_id in {"db", "checkout", "api", "db-2"} - {lead}:
            assert await state_of(stores[0], task_id) == (GROUPED, lead, "a2a-1")
    finally:
        for each in stores:
            await each.close()


@pytest.mark.anyio
@pytest.mark.integration
async def test_a_page_naming_its_service_by_an_alias_is_grouped_with_its_outage(
    controlplane_mcp: ServedComponent, issuer: TestIssuer
) -> None:
    # The environment's alerts name their service `app_name` (ROUTER_LABEL_ALIASES=service=app_name).
    settings = RouterSettings.from_source(SettingsSource({"ROUTER_LABEL_ALIASES": "service=app_name"}))
    deliveries = [
        delivery("db", {"service": "orders-db", "namespace": "prod"}, at=1),
        delivery("api", {"app_name": "orders-api", "namespace": "prod"}, at=2),
    ]

    aliased = await Grouper(router_session(controlplane_mcp, issuer), aliases=settings.aliases).plan(deliveries)
    plain = await Grouper(router_session(controlplane_mcp, issuer)).plan(deliveries)

    assert shapes(aliased) == [("db", ["api"])]
    assert shapes(plain) == [("db", []), ("api", [])]


def test_a_malformed_router_label_alias_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"ROUTER_LABEL_ALIASES: .*role 'colour' is unknown"):
        RouterSettings.from_source(SettingsSource({"ROUTER_LABEL_ALIASES": "colour=app_name"}))
