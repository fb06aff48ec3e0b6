"""Reading what triage is asked: alerts, deployment events, questions; and refusing anything else clearly."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from agents.triage.request import Subject, parse_request
from common.errors import InputError
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
