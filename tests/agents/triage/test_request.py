"""Reading what triage is asked: alerts, deployment events, questions; and refusing anything else clearly."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from agents.triage.request import Subject, parse_request
from common.errors import InputError
from common.investigation.identity import LabelAliases
from scenarios import BUNDLED_DIR, load_scenario
from scenarios.alerts import alertmanager_payloads

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_an_alert_group_names_its_resources_firing_and_earliest_first() -> None:
    scenario = load_scenario(BUNDLED_DIR / "payments-config-timeout.yaml")
    (payload,) = [p for p in alertmanager_payloads(scenario, NOW) if p["groupLabels"]["alertname"] == "HighErrorRate"]

    request = parse_request([json.dumps(payload)])

    assert [(s.name, s.namespace) for s in request.subjects] == [("payments", "prod"), ("checkout", "prod")]
    assert request.subjects[0].started_at == NOW - timedelta(minutes=35)
    assert request.trigger.kind == "alert"
    assert request.trigger.summary.startswith("HighErrorRate: payments 5xx ratio")
    assert request.trigger.details["firing"] == 2


def test_a_node_alert_without_a_namespace_names_the_node() -> None:
    scenario = load_scenario(BUNDLED_DIR / "node-failure.yaml")
    payload = alertmanager_payloads(scenario, NOW)[0]

    (subject,) = parse_request([json.dumps(payload)]).subjects

    assert (subject.name, subject.namespace) == ("ip-10-0-3-17", None)


def test_a_deployment_event_and_a_question_with_context() -> None:
    deployment = parse_request(
        [
            json.dumps(
                {"type": "deployment", "service": "cart", "namespace": "prod", "version": "v2", "status": "failed"}
            )
        ]
    )
    question = parse_request(
        [json.dumps({"question": "why slow?", "service": "catalog", "start": "2026-11-22T10:00:00Z", "end": "now"})]
    )

    assert deployment.trigger.kind == "deployment"
    assert deployment.trigger.summary == "Deployment of cart v2 failed"
    assert [(s.name, s.namespace) for s in deployment.subjects] == [("cart", "prod")]
    assert question.trigger.summary == "why slow?"
    assert [s.name for s in question.subjects] == ["catalog"]
    assert question.start == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_a_plain_question_keeps_its_words_for_the_lookup() -> None:
    request = parse_request(["Why is checkout failing since 10:00?"])

    assert request.subjects == ()
    assert "checkout" in request.words
    assert request.trigger.kind == "question"


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ([""], "The message is empty"),
        (['{"hello": 1}'], "neither alerts, a deployment event, a service nor a question"),
        (['{"version": "4", "alerts": []}'], "The Alertmanager payload is invalid: groupKey: Field required"),
        (['{"type": "deployment"}'], "has no `service`"),
        (['{"question": "x", "start": "yesterday"}'], "`start` ('yesterday') is not a time"),
    ],
)
def test_what_cannot_be_read_is_refused_naming_the_problem(texts: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_request(texts)


def test_alerts_without_any_resource_label_are_refused() -> None:
    payload = {
        "version": "4",
        "groupKey": "{}:{}",
        "status": "firing",
        "receiver": "router",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Watchdog"},
                "startsAt": "2026-11-22T11:00:00Z",
                "fingerprint": "abc",
            }
        ],
    }
    with pytest.raises(InputError, match="No alert names a resource: give one of the labels service"):
        parse_request([json.dumps(payload)])


def test_a_service_alone_asks_what_is_wrong_with_it() -> None:
    request = parse_request(['{"service": "checkout", "namespace": "prod"}'])

    assert request.subjects == (Subject("checkout", "prod"),)
    assert request.trigger.summary == "What is wrong with checkout?"


def test_every_example_a_refusal_gives_is_accepted_as_written() -> None:
    with pytest.raises(InputError) as refused:
        parse_request(['{"hello": 1}'])
    examples = [json.loads(example) for example in re.findall(r"\{[^{}]*\}", str(refused.value))]

    assert len(examples) == 3
    for example in examples:
        assert parse_request([json.dumps(example)]).subjects[0].name == "checkout", example


def _webhook(*labels: dict[str, str]) -> str:
    alerts = [
        {"status": "firing", "labels": item, "startsAt": f"2026-11-22T11:0{i}:00Z", "fingerprint": f"f{i}"}
        for i, item in enumerate(labels)
    ]
    return json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "r", "alerts": alerts})


KUBE_STATE_METRICS = {
    "job": "kube-state-metrics",
    "service": "kps-kube-state-metrics",
    "instance": "10.2.0.7:8080",
    "endpoint": "http",
}


@pytest.mark.parametrize(
    ("labels", "subject"),
    [
        (
            {
                "alertname": "KubePodCrashLooping",
                "namespace": "prod",
                "pod": "cart-6f7d9b8c4-m2n4p",
                "container": "cart",
                "reason": "CrashLoopBackOff",
                **KUBE_STATE_METRICS,
            },
            ("cart", "prod", "deployment"),
        ),
        (
            {
                "alertname": "KubeDeploymentReplicasMismatch",
                "namespace": "prod",
                "deployment": "checkout",
                "pod": "kps-kube-state-metrics-6d8f9c7b5d-q2xwz",
                "container": "kube-state-metrics",
                **KUBE_STATE_METRICS,
            },
            ("checkout", "prod", "deployment"),
        ),
        ({"alertname": "TargetDown", "job": "payments", "namespace": "prod"}, ("payments", "prod", None)),
        (
            {
                "alertname": "NodeFilesystemSpaceFillingUp",
                "instance": "ip-10-0-3-17:9100",
                "job": "node-exporter",
                "mountpoint": "/",
                "device": "/dev/nvme0n1p1",
                "fstype": "ext4",
            },
            ("ip-10-0-3-17", None, "node"),
        ),
        (
            {
                "alertname": "PostgresqlTooManyConnections",
                "instance": "pg-exporter.db:9187",
                "job": "postgres-exporter",
            },
            ("postgres-exporter", None, None),
        ),
    ],
)
def test_an_alert_without_a_service_label_names_its_workload(
    labels: dict[str, str], subject: tuple[str, str | None, str | None]
) -> None:
    (found,) = parse_request([_webhook(labels)]).subjects

    assert (found.name, found.namespace, found.kind) == subject


def test_an_exporters_alert_also_offers_the_name_of_what_it_exports() -> None:
    (found,) = parse_request(
        [_webhook({"alertname": "PostgresqlDown", "job": "prometheus-postgres-exporter"})]
    ).subjects

    assert found.other_names == ("postgres",)


def test_pods_of_one_workload_crashing_make_one_subject_named_for_the_workload() -> None:
    crash = {"alertname": "KubePodCrashLooping", "namespace": "prod", "container": "cart", **KUBE_STATE_METRICS}
    request = parse_request(
        [_webhook({**crash, "pod": "cart-6f7d9b8c4-m2n4p"}, {**crash, "pod": "cart-6f7d9b8c4-x2x4z"})]
    )

    assert [(s.name, s.label) for s in request.subjects] == [("cart", "pod")]


def test_label_aliases_name_the_resource_by_an_environments_own_label() -> None:
    payload = _webhook({"alertname": "HighLatency", "team_service": "billing", "k8s_ns": "fin"})

    with pytest.raises(InputError, match="TRIAGE_LABEL_ALIASES"):
        parse_request([payload])
    (found,) = parse_request([payload], LabelAliases.parse("service=team_service;namespace=k8s_ns")).subjects
    assert (found.name, found.namespace) == ("billing", "fin")


def test_a_client_side_alert_names_its_caller_beside_the_callee() -> None:
    """Istio's client-side report: calls from checkout to tax as checkout saw them; a caller outside the mesh
    (Istio's `unknown`) names nobody."""
    seen_by_caller = {
        "alertname": "UpstreamErrorRateHigh",
        "destination_workload": "tax",
        "destination_workload_namespace": "prod",
        "source_workload": "checkout",
        "source_workload_namespace": "prod",
        "reporter": "source",
    }
    from_outside = {**seen_by_caller, "destination_workload": "geo", "source_workload": "unknown"}

    tax, geo = parse_request([_webhook(seen_by_caller, from_outside)]).subjects

    assert (tax.name, tax.namespace, tax.callers) == ("tax", "prod", ("checkout",))
    assert (geo.name, geo.callers) == ("geo", ())
